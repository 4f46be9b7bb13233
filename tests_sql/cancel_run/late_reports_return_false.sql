-- After cancel_run, complete_task and fail_task for a task that was started when the run was cancelled return
-- false and change nothing: the task stays cancelled without output or error, its step and the run stay as the
-- cancel left them, and nothing downstream starts.
begin;
select plan(10);

select pgflow.define_flow(
  'cancel_late',
  '[{"slug": "a"}, {"slug": "b", "depends_on": ["a"]}]',
  '{"max_attempts": 3, "base_delay": 0}'
);
select run_id from pgflow.start_run('cancel_late', '{}') \gset
select attempt from pgflow_tests.claim(:'run_id', 'a') \gset

select pgflow.cancel_run(:'run_id');
select pgflow_tests.run_snapshot(:'run_id') as before_reports \gset

select is(
  pgflow.complete_task(:'run_id', 'a', 0, '"late"', :attempt), false,
  'complete_task with the current attempt returns false'
);
select is(
  pgflow.complete_task(:'run_id', 'a', 0, '"late"'), false, 'complete_task without an attempt returns false'
);
select is(
  pgflow.fail_task(:'run_id', 'a', 0, 'late failure', :attempt), false,
  'fail_task with the current attempt returns false'
);
select is(pgflow.fail_task(:'run_id', 'a', 0, 'late failure'), false, 'fail_task without an attempt returns false');

select is(pgflow_tests.task_status(:'run_id', 'a'), 'cancelled', 'the task stays cancelled');
select is(
  (select output from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'a'), null,
  'the task has no output'
);
select is(pgflow_tests.run_status(:'run_id'), 'cancelled', 'the run stays cancelled');
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'b'), 0,
  'the dependent step gets no task'
);
select is(pgflow_tests.run_snapshot(:'run_id'), :'before_reports'::jsonb, 'no row of the run changed');
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'run_id' and status in ('queued', 'started')), 0,
  'no task of the run is queued or started'
);

select finish();
rollback;
