-- Fencing: attempt 1 times out and attempt 2 starts; the late fail_task of attempt 1 returns false and changes
-- nothing (task row unchanged, no retry queued); fail_task with attempt 2 is then recorded.
begin;
select plan(7);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('fail_fenced', '[{"slug": "only", "timeout": 10, "base_delay": 0, "max_attempts": 3}]');
select run_id from pgflow.start_run('fail_fenced') \gset
select is((select attempt from pgflow_tests.poll('fail_fenced')), 1, 'attempt 1 starts');

select pgflow_tests.set_now('2030-01-01 12:00:11+00');
select is((select attempt from pgflow_tests.poll('fail_fenced')), 2, 'past its deadline, attempt 2 starts');

create temporary table fenced_before as
select * from pgflow.step_tasks where run_id = :'run_id';

select is(
  pgflow.fail_task(:'run_id', 'only', 0, 'late failure', 1), false, 'the late report of attempt 1 returns false'
);
select results_eq(
  format($$select * from pgflow.step_tasks where run_id = %L$$, :'run_id'),
  $$select * from fenced_before$$,
  'the task row is unchanged'
);
select is(pgflow_tests.run_status(:'run_id'), 'started', 'the run is unaffected');

select is(pgflow.fail_task(:'run_id', 'only', 0, 'current failure', 2), true, 'the report of attempt 2 is recorded');
select results_eq(
  format($$select status, attempt, error from pgflow.step_tasks where run_id = %L$$, :'run_id'),
  $$values ('queued', 2, 'current failure')$$,
  'the task is queued for attempt 3 with attempt 2''s error'
);

select finish();
rollback;
