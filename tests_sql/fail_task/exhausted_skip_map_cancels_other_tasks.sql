-- Exhaustion of one task of a map step with when_exhausted "skip": the step becomes skipped and its other
-- unfinished tasks (started or queued) are cancelled; a task completed earlier stays completed.
begin;
select plan(7);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow(
  'exhaust_map_skip', '[{"slug": "items", "type": "map", "max_attempts": 1, "when_exhausted": "skip"}]'
);
select run_id from pgflow.start_run('exhaust_map_skip', '[1, 2, 3, 4]') \gset

select is((select count(*)::int from pgflow_tests.poll('exhaust_map_skip', 3)), 3, 'three of four tasks start');
select min(task_index) as done_index from pgflow.step_tasks where run_id = :'run_id' and status = 'started' \gset
select ok(pgflow.complete_task(:'run_id', 'items', :done_index, '"done"', 1), 'one started task completes');
select min(task_index) as bad_index from pgflow.step_tasks where run_id = :'run_id' and status = 'started' \gset

select is(pgflow.fail_task(:'run_id', 'items', :bad_index, 'boom', 1), true, 'another exhausts its only attempt');
select is(pgflow_tests.step_status(:'run_id', 'items'), 'skipped', 'the map step is skipped');
select results_eq(
  format(
    $$select status, count(*)::int from pgflow.step_tasks
      where run_id = %L and task_index not in (%s, %s) group by status$$,
    :'run_id', :done_index, :bad_index
  ),
  $$values ('cancelled', 2)$$,
  'the other two tasks, one started and one queued, are cancelled'
);
select is(pgflow_tests.task_status(:'run_id', 'items', :done_index), 'completed', 'the completed task stays completed');
select is(pgflow_tests.task_status(:'run_id', 'items', :bad_index), 'failed', 'the exhausted task failed');

select finish();
rollback;
