-- Fairness: a run with a 10,000-element map is started first and claimed from for a while; then 20 small runs
-- are started. Polling in batches of 10, the first task of every small run is claimed within the next 3 polls,
-- not after the map: each small run's task enters the fair queue at its smallest round. The map still advances
-- in (nearly) every poll. Measured: the poll at which each small run's first task is claimed.
begin;
select plan(4);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select pgflow.define_flow('big_map', '[{"slug": "each", "type": "map"}]');
select pgflow.define_flow('small', '[{"slug": "first"}, {"slug": "second"}]');
select pgflow.start_run('big_map', (select pg_catalog.jsonb_agg(n) from pg_catalog.generate_series(1, 10000) as n));

-- the map is being worked on: two polls of 10
select pgflow_tests.set_now('2030-01-01 00:00:01+00');
select is((select pg_catalog.count(*)::int from pgflow.poll_for_tasks('w', null, 10)), 10, 'a poll claims 10 map tasks');
select pgflow.poll_for_tasks('w', null, 10);

select pgflow_tests.set_now('2030-01-01 00:00:02+00');
select pgflow.start_run('small', pg_catalog.jsonb_build_object('n', n)) from pg_catalog.generate_series(1, 20) as n;

create temporary table claims (poll int, run_id uuid, flow_slug text) on commit drop;
do $$
begin
  for i in 1 .. 10 loop
    insert into claims select i, p.run_id, p.flow_slug from pgflow.poll_for_tasks('w', null, 10) as p;
  end loop;
end
$$;

select is(
  (select pg_catalog.count(distinct c.run_id)::int from claims as c where c.flow_slug = 'small'), 20,
  'every small run''s first task was claimed'
);
select cmp_ok(
  (select pg_catalog.max(f.poll) from (
    select pg_catalog.min(c.poll) as poll from claims as c where c.flow_slug = 'small' group by c.run_id
  ) as f),
  '<=', 3,
  'the last small run had its first task claimed by the 3rd poll after the small runs started'
);
select cmp_ok(
  (select pg_catalog.count(distinct c.poll)::int from claims as c where c.flow_slug = 'big_map'), '>=', 9,
  'the map advanced meanwhile: it had tasks claimed in at least 9 of the 10 polls (one task per fair round)'
);

select finish();
rollback;
