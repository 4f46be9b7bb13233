-- A task queued for a retry is not claimed before its retry delay (base_delay 5 s here) has passed.
begin;
select plan(4);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('retry_not_due', '[{"slug": "only", "base_delay": 5}]');
select run_id from pgflow.start_run('retry_not_due') \gset
select ok(pgflow_tests.fail(:'run_id', 'only', 'first failure'), 'the first attempt fails');

select is((pgflow_tests.task_row(:'run_id', 'only')).status, 'queued', 'the task is queued for a retry');
select pgflow_tests.set_now('2030-01-01 12:00:04+00');
select is_empty(
  $$select * from pgflow.poll_for_tasks('retry_worker', array['retry_not_due'])$$, 'it is not claimed before it is due'
);
select pgflow_tests.set_now('2030-01-01 12:00:05+00');
select is(
  (select attempt from pgflow.poll_for_tasks('retry_worker', array['retry_not_due'])), 2,
  'it is claimed once due, as attempt 2'
);

select finish();
rollback;
