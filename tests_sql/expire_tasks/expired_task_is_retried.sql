-- expire_tasks() counts an overdue attempt as failed: the task is queued with an error saying it timed out and
-- is claimable again after the retry delay (base_delay 2 s here), as attempt 2.
begin;
select plan(6);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('expire_retry', '[{"slug": "slow", "timeout": 10, "base_delay": 2}]');
select run_id from pgflow.start_run('expire_retry') \gset
select is((select attempt from pgflow_tests.poll('expire_retry')), 1, 'attempt 1 starts');

select pgflow_tests.set_now('2030-01-01 12:00:09+00');
select is(pgflow.expire_tasks(), 0, 'nothing expires before the deadline');

select pgflow_tests.set_now('2030-01-01 12:00:12+00');
select is(pgflow.expire_tasks(), 1, 'past the deadline the attempt expires');
select results_eq(
  format(
    $$select status, attempt, error like '%%timed out%%', visible_at from pgflow.step_tasks where run_id = %L$$,
    :'run_id'
  ),
  $$values ('queued', 1, true, '2030-01-01 12:00:14+00'::timestamptz)$$,
  'the task is queued, with an error saying it timed out, due after the retry delay'
);

select pgflow_tests.set_now('2030-01-01 12:00:13.9+00');
select is_empty($$select * from pgflow_tests.poll('expire_retry')$$, 'it is not claimable before the delay');
select pgflow_tests.set_now('2030-01-01 12:00:14+00');
select is((select attempt from pgflow_tests.poll('expire_retry')), 2, 'then it is claimed as attempt 2');

select finish();
rollback;
