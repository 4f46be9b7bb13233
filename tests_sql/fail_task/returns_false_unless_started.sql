-- fail_task returns false and changes nothing for a task that is not started: a queued task never claimed, and
-- a task already completed.
begin;
select plan(4);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('fail_not_started', '[{"slug": "first"}, {"slug": "second"}]');
select run_id from pgflow.start_run('fail_not_started') \gset

select is(pgflow.fail_task(:'run_id', 'first', 0, 'early'), false, 'fail_task on a queued task returns false');
select results_eq(
  format($$select status, attempt, error from pgflow.step_tasks where run_id = %L$$, :'run_id'),
  $$values ('queued', 0, null::text)$$,
  'the queued task is unchanged'
);

select ok(pgflow_tests.complete(:'run_id', 'first', '"F"'), 'first completes');
select is(pgflow.fail_task(:'run_id', 'first', 0, 'late'), false, 'fail_task on a completed task returns false');

select finish();
rollback;
