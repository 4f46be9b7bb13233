-- A cap lowered in a new version applies to the tasks of runs of older versions too (the current version's flow
-- control governs the bucket); numbers equal as jsonb (1, 1.0, 1e0) are one key value, one bucket.
begin;
select plan(3);

select pgflow.define_flow('lowered', '[{"slug": "s", "concurrency": 5}]');
select pgflow.start_run('lowered', '{}') from pg_catalog.generate_series(1, 3);
select pgflow.define_flow('lowered', '[{"slug": "s", "concurrency": 1}]');
select pgflow.start_run('lowered', '{}') from pg_catalog.generate_series(1, 5);
select is(
  (select pg_catalog.count(*)::int from pgflow.poll_for_tasks('w', '{lowered}', 100)), 1,
  'with the cap lowered to 1 in version 2, one task of the eight is started, whatever its version'
);

select pgflow.define_flow('numbers', '[{"slug": "s", "concurrency": 2, "concurrency_key": ["tenant"]}]');
select pgflow.start_run('numbers', '{"tenant": 1}');
select pgflow.start_run('numbers', '{"tenant": 1.0}');
select pgflow.start_run('numbers', '{"tenant": 1e0}');
select is(
  (select pg_catalog.count(*)::int from pgflow.poll_for_tasks('w', '{numbers}', 100)), 2,
  'tenants 1, 1.0 and 1e0 share one bucket of two'
);
select is(
  (select pg_catalog.count(distinct flow_key)::int from pgflow.step_tasks where flow_slug = 'numbers'), 1,
  'their tasks have one flow_key'
);

select finish();
rollback;
