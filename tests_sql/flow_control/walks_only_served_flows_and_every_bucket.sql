-- The claim walks only the buckets of the flows a poller serves, and every bucket of them at most once per poll: a
-- poll never comes back empty while a served bucket has room, whatever other flows or full buckets hold.
begin;
select plan(4);

select pgflow.define_flow('tenants', '[{"slug": "s", "concurrency": 1, "concurrency_key": ["tenant"]}]');
select pgflow.define_flow('lone', '[{"slug": "s", "concurrency": 5}]');

-- 300 tenants with two runs each: once the first task of each is started, every bucket is full
select pg_catalog.count(*) from (
  select pgflow.start_run('tenants', pg_catalog.jsonb_build_object('tenant', i))
  from pg_catalog.generate_series(1, 300) as i, pg_catalog.generate_series(1, 2)
) as s;
select pgflow_tests.poll_all('tenants', 1000);
select is(pgflow_tests.started_count('tenants'), 300, 'one task of each of the 300 tenants is started');

-- a poller serving another flow gets its task at once: the 300 buckets of tenants cost it nothing
select pgflow.start_run('lone', '{}');
select is(
  (select pg_catalog.count(*)::int from pgflow.poll_for_tasks('lone_worker', '{lone}', 10)), 1,
  'a poller serving only another flow claims its one due task in its first poll'
);

-- one slot frees among 300 full buckets: the next poll finds it, wherever its walk starts
select pgflow.complete_task(t.run_id, t.step_slug, t.task_index, '1', t.attempt)
from pgflow.step_tasks as t
where t.flow_slug = 'tenants' and t.status = 'started'
order by t.run_id
limit 1;
select is(
  (select pg_catalog.count(*)::int from pgflow.poll_for_tasks('any_worker', '{tenants}', 10)), 1,
  'the one bucket with room among 300 full ones is claimed from by the next poll'
);
select is(
  (select pg_catalog.count(*)::int from pgflow.poll_for_tasks('any_worker', '{tenants}', 10)), 0,
  'and then nothing is claimable'
);

select finish();
rollback;
