-- start_delay applies to the first attempt only: a retry becomes claimable after its retry delay alone
-- (base_delay 2 s after the first failure), not after another start_delay.
begin;
select plan(5);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select pgflow.define_flow('delay_retry', '[{"slug": "flaky", "start_delay": 5, "base_delay": 2, "max_attempts": 3}]');
select run_id from pgflow.start_run('delay_retry', '{}') \gset

select pgflow_tests.set_now('2030-01-01 00:00:05+00');
select is((select attempt from pgflow_tests.poll('delay_retry')), 1, 'the first attempt is claimed at 5 s');

select pgflow_tests.set_now('2030-01-01 00:00:07+00');
select ok(pgflow.fail_task(:'run_id', 'flaky', 0, 'boom', 1), 'the first attempt fails at 7 s');
select is(pgflow_tests.task_status(:'run_id', 'flaky'), 'queued', 'the task is queued for a retry');

select pgflow_tests.set_now('2030-01-01 00:00:08.9+00');
select is_empty($$select * from pgflow_tests.poll('delay_retry')$$, 'the retry waits for its retry delay');

select pgflow_tests.set_now('2030-01-01 00:00:09+00');
select is(
  (select attempt from pgflow_tests.poll('delay_retry')), 2,
  'the retry is claimable at 9 s, 2 s after the failure, without a second start_delay'
);

select finish();
rollback;
