-- complete_tasks records a batch in one call: one result per report, in order — true when recorded,
-- false when refused (not started, stale attempt), null when the task does not exist — and the reports it
-- records cascade as complete_task's do.
begin;
select plan(7);

select pgflow_tests.define_diamond('batch_each');
select run_id as r1 from pgflow.start_run('batch_each', '{"n": 1}') \gset
select run_id as r2 from pgflow.start_run('batch_each', '{"n": 2}') \gset
select (pgflow_tests.claim(:'r1', 'a')).attempt as a1 \gset
select (pgflow_tests.claim(:'r2', 'a')).attempt as a2 \gset

select is(
  pgflow.complete_tasks(
    array[:'r1', :'r2', :'r2', :'r1']::uuid[],
    array['a', 'a', 'nope', 'b'],
    array[0, 0, 0, 0],
    array['"A1"', '"A2"', '1', '1']::jsonb[],
    array[:a1, :a2, 1, 1]
  ),
  array[true, true, null, false],
  'recorded, recorded, no such task, not started'
);
select is(pgflow_tests.task_status(:'r1', 'a'), 'completed', 'run 1: a completed');
select is(pgflow_tests.step_status(:'r2', 'a'), 'completed', 'run 2: a completed');
select is(
  (select count(*)::int from pgflow.step_tasks where run_id in (:'r1', :'r2') and step_slug in ('b', 'c')), 4,
  'both runs cascaded: b and c have tasks in each'
);
select is(
  (select output from pgflow.step_states where run_id = :'r2' and step_slug = 'a'), '"A2"'::jsonb,
  'each step gets its own task output'
);

select is(
  pgflow.complete_tasks(array[:'r1']::uuid[], array['a'], array[0], array['"again"']::jsonb[], array[:a1]),
  array[false],
  'a second report of a completed task is refused'
);
select is(
  (select output from pgflow.step_tasks where run_id = :'r1' and step_slug = 'a'), '"A1"'::jsonb,
  'and changes nothing'
);

select finish();
rollback;
