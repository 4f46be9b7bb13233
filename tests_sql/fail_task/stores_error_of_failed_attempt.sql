-- fail_task returns true and stores the failed attempt's error on the task, which goes back to queued without a
-- worker; the next failure replaces the error with its own.
begin;
select plan(6);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('stores_error', '[{"slug": "flaky", "base_delay": 0}]');
select run_id from pgflow.start_run('stores_error') \gset
select attempt from pgflow_tests.poll('stores_error') \gset

select is(pgflow.fail_task(:'run_id', 'flaky', 0, 'ValueError: bad input', :attempt), true, 'fail_task returns true');
select results_eq(
  format($$select status, attempt, error, worker_id from pgflow.step_tasks where run_id = %L$$, :'run_id'),
  $$values ('queued', 1, 'ValueError: bad input', null::text)$$,
  'the task is queued again, released by its worker, with the error of attempt 1'
);
select is(pgflow_tests.step_status(:'run_id', 'flaky'), 'started', 'the step keeps running');

select is((select attempt from pgflow_tests.poll('stores_error')), 2, 'attempt 2 starts');
select ok(pgflow.fail_task(:'run_id', 'flaky', 0, 'KeyError: other', 2), 'attempt 2 fails');
select is((pgflow_tests.task_row(:'run_id', 'flaky')).error, 'KeyError: other', 'the error is now attempt 2''s');

select finish();
rollback;
