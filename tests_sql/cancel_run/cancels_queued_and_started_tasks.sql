-- cancel_run cancels the run's queued and started tasks and leaves its completed tasks completed:
-- in a -> (b, c) -> d, with a completed, b claimed (started) and c queued (its start_delay not yet passed),
-- cancelling leaves a completed and makes b and c cancelled; d never gets a task.
begin;
select plan(8);

select pgflow_tests.set_now('2024-03-01 12:00:00+00');
select pgflow.define_flow(
  'cancel_tasks',
  '[{"slug": "a"},
    {"slug": "b", "depends_on": ["a"]},
    {"slug": "c", "depends_on": ["a"], "start_delay": 60},
    {"slug": "d", "depends_on": ["b", "c"]}]'
);
select run_id from pgflow.start_run('cancel_tasks', '{}') \gset
select pgflow_tests.complete(:'run_id', 'a', '"A"');
select pgflow_tests.claim(:'run_id', 'b');

select is(pgflow_tests.task_status(:'run_id', 'b'), 'started', 'b is started before the cancel');
select is(pgflow_tests.task_status(:'run_id', 'c'), 'queued', 'c is queued before the cancel');

select pgflow_tests.advance(interval '1 second');
select pgflow.cancel_run(:'run_id');

select is(pgflow_tests.task_status(:'run_id', 'a'), 'completed', 'the completed task stays completed');
select is(pgflow_tests.task_status(:'run_id', 'b'), 'cancelled', 'the started task is cancelled');
select is(pgflow_tests.task_status(:'run_id', 'c'), 'cancelled', 'the queued task is cancelled');
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'run_id' and status in ('queued', 'started')), 0,
  'no task of the run is left queued or started'
);
select is(
  (select output from pgflow.step_states where run_id = :'run_id' and step_slug = 'a'), '"A"'::jsonb,
  'the completed step keeps its output'
);
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'd'), 0,
  'the step waiting on the cancelled ones gets no task'
);

select finish();
rollback;
