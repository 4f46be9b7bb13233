-- concurrency_key is a path into the run input. Runs whose input has no value there (the key is absent, or the
-- input is not an object on the way) share one bucket of their own; JSON null is a value like any other.
begin;
select plan(6);

select pgflow.define_flow(
  'missing_key', '[{"slug": "work", "concurrency": 1, "concurrency_key": ["tenant", "id"]}]'
);
select run_id as with_key from pgflow.start_run('missing_key', '{"tenant": {"id": "acme"}}') \gset
select run_id as absent from pgflow.start_run('missing_key', '{"other": 1}') \gset
select run_id as not_object from pgflow.start_run('missing_key', '{"tenant": 7}') \gset
select run_id as json_null from pgflow.start_run('missing_key', '{"tenant": {"id": null}}') \gset

select is(
  (select pg_catalog.count(distinct t.flow_key)::int from pgflow.step_tasks as t where t.flow_slug = 'missing_key'),
  3, 'three buckets: "acme", null, and the runs without a value'
);
select is(
  (select a.flow_key from pgflow.step_tasks as a where a.run_id = :'absent'),
  (select n.flow_key from pgflow.step_tasks as n where n.run_id = :'not_object'),
  'the runs without a value share a bucket'
);

select is(pgflow_tests.poll_all('missing_key'), 3, 'one task per bucket is claimed');
select is(
  pgflow_tests.started_count('missing_key') - (
    select pg_catalog.count(*)::int from pgflow.step_tasks as t
    where t.run_id in (:'absent', :'not_object') and t.status = 'started'
  ),
  2, 'the keyed runs each have their task started'
);
select set_eq(
  $$select b.key from pgflow.flow_buckets as b where b.flow_slug = 'missing_key'$$,
  $$values ('"acme"'::jsonb), ('null'::jsonb), (null)$$,
  'flow_buckets records each bucket''s value, null for the missing one'
);
select is(pgflow_tests.work_through('missing_key'), 1, 'working through, never more than one task per bucket');

select finish();
rollback;
