-- fail_task after the deadline, with no poll in between: the attempt fails either way; the handler's own error
-- is what is recorded (retried or exhausted as any failure), and fail_task returns true.
begin;
select plan(3);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('late_fail', '[{"slug": "only", "timeout": 1, "max_attempts": 2, "base_delay": 0}]');
select run_id from pgflow.start_run('late_fail') \gset
select count(*) from pgflow_tests.poll('late_fail');

select pgflow_tests.set_now('2030-01-01 12:00:25+00');
select is(pgflow.fail_task(:'run_id', 'only', 0, 'boom', 1), true, 'the late failure is recorded');
select results_eq(
  format($$select status, attempt, error from pgflow.step_tasks where run_id = %L$$, :'run_id'),
  $$values ('queued', 1, 'boom')$$,
  'with the handler''s error, queued for a retry'
);
select is(pgflow.expire_tasks(), 0, 'nothing is left to expire');

select finish();
rollback;
