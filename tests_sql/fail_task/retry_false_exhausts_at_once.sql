-- fail_task(..., retry => false) fails the task at once whatever attempts it has left, and when_exhausted
-- applies: a step in mode "skip" is skipped at its first attempt; in mode "fail" the run fails. A retry of
-- true (the default) queues the task again as before.
begin;
select plan(7);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow(
  'no_retry',
  '[{"slug": "skippable", "depends_on": [], "max_attempts": 5, "when_exhausted": "skip"},
    {"slug": "fatal", "depends_on": [], "max_attempts": 5},
    {"slug": "after", "depends_on": ["skippable"]}]'
);
select run_id from pgflow.start_run('no_retry') \gset
select pgflow_tests.claim(:'run_id', 'skippable');
select pgflow_tests.claim(:'run_id', 'fatal');

select is(
  pgflow.fail_task(:'run_id', 'skippable', 0, 'ValueError: bad input', 1, retry => false), true,
  'a failure without retry is recorded'
);
select is(pgflow_tests.task_status(:'run_id', 'skippable'), 'failed', 'the task failed at its first attempt');
select is(pgflow_tests.step_status(:'run_id', 'skippable'), 'skipped', 'when_exhausted skip applies at once');
select is(pgflow_tests.step_status(:'run_id', 'after'), 'started', 'the dependent runs without it');

select is(
  pgflow.fail_task(:'run_id', 'fatal', 0, 'ValueError: bad input', 1, true), true, 'a failure with retry is recorded'
);
select is(pgflow_tests.task_status(:'run_id', 'fatal'), 'queued', 'with retry the task is queued again');

select pgflow_tests.set_now('2030-01-01 12:00:05+00');
select pgflow_tests.claim(:'run_id', 'fatal');
select pgflow.fail_task(:'run_id', 'fatal', 0, 'ValueError: bad input', 2, retry => false);
select is(pgflow_tests.run_status(:'run_id'), 'failed', 'without retry, when_exhausted fail fails the run at once');

select finish();
rollback;
