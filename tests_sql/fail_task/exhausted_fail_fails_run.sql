-- Exhaustion with when_exhausted "fail" (the default): when the last attempt fails, the task and the step fail,
-- the run fails with an error naming the step and including the handler's error, and every other queued or
-- started task of the run (a parallel branch running, another waiting on its start_delay) is cancelled.
begin;
select plan(10);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow(
  'exhaust_fail',
  '[{"slug": "bad", "depends_on": [], "max_attempts": 1},
    {"slug": "busy", "depends_on": []},
    {"slug": "waiting", "depends_on": [], "start_delay": 30},
    {"slug": "after_bad", "depends_on": ["bad"]}]'
);
select run_id from pgflow.start_run('exhaust_fail') \gset
select bag_eq(
  $$select step_slug from pgflow_tests.poll('exhaust_fail')$$, $$values ('bad'), ('busy')$$,
  'bad and busy are started, waiting stays queued'
);

select pgflow_tests.set_now('2030-01-01 12:00:02+00');
select is(pgflow.fail_task(:'run_id', 'bad', 0, 'RuntimeError: disk on fire', 1), true, 'the last attempt fails');

select is(pgflow_tests.task_status(:'run_id', 'bad'), 'failed', 'the task failed');
select is(pgflow_tests.step_status(:'run_id', 'bad'), 'failed', 'the step failed');
select is(pgflow_tests.run_status(:'run_id'), 'failed', 'the run failed');
select alike(
  (select error from pgflow.runs where run_id = :'run_id'), '%bad%RuntimeError: disk on fire%',
  'the run error names the step and includes the handler''s error'
);
select is(
  pgflow_tests.task_status(:'run_id', 'busy'), 'cancelled', 'the started task of the parallel branch is cancelled'
);
select is(pgflow_tests.task_status(:'run_id', 'waiting'), 'cancelled', 'the queued task is cancelled');
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'run_id' and status in ('queued', 'started')), 0,
  'no task of the run is left queued or started'
);
select is(
  pgflow.complete_task(:'run_id', 'busy', 0, '"too late"', 1), false, 'a report from the cancelled task returns false'
);

select finish();
rollback;
