-- concurrency with concurrency_key caps each value separately: two tenants run in parallel, each at its cap,
-- while an uncapped step of the same flow is claimed freely.
begin;
select plan(6);

select pgflow.define_flow(
  'per_tenant',
  '[{"slug": "capped", "concurrency": 2, "concurrency_key": ["tenant"]}, {"slug": "free", "depends_on": []}]'
);
select pgflow.start_run('per_tenant', pg_catalog.jsonb_build_object('tenant', t, 'n', n))
from (values ('a'), ('b')) as tenants (t), pg_catalog.generate_series(1, 5) as n;

select pgflow_tests.poll_all('per_tenant', 100);
select results_eq(
  $$select r.input ->> 'tenant', pg_catalog.count(*)::int
    from pgflow.step_tasks as t inner join pgflow.runs as r on r.run_id = t.run_id
    where t.flow_slug = 'per_tenant' and t.step_slug = 'capped' and t.status = 'started'
    group by 1 order by 1$$,
  $$values ('a', 2), ('b', 2)$$,
  'each tenant has two tasks of the capped step started'
);
select is(
  (select pg_catalog.count(*)::int from pgflow.step_tasks where flow_slug = 'per_tenant' and step_slug = 'free'
     and status = 'started'),
  10, 'the uncapped step''s ten tasks are all started'
);

-- one of tenant a's tasks completes: only tenant a gets another
select pgflow.complete_task(t.run_id, t.step_slug, t.task_index, '1', t.attempt)
from pgflow.step_tasks as t inner join pgflow.runs as r on r.run_id = t.run_id
where t.flow_slug = 'per_tenant' and t.step_slug = 'capped' and t.status = 'started' and r.input ->> 'tenant' = 'a'
limit 1;
select results_eq(
  $$select r.input ->> 'tenant' from pgflow_tests.poll('per_tenant') as p
    inner join pgflow.runs as r on r.run_id = p.run_id$$,
  $$values ('a')$$,
  'the freed slot goes to tenant a'
);
select is(pgflow_tests.poll_all('per_tenant'), 0, 'and nothing else is claimable');

select is(pgflow_tests.work_through('per_tenant'), 2, 'working through, never more than two tasks of a tenant started');
select is(
  (select pg_catalog.count(*)::int from pgflow.runs where flow_slug = 'per_tenant' and status = 'completed'), 10,
  'every run completed'
);

select finish();
rollback;
