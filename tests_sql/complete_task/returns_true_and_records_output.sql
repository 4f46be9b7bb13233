-- complete_task on a started task returns true and records the output on the task, which becomes completed
-- with finished_at = now.
begin;
select plan(4);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('records_output', '[{"slug": "first"}, {"slug": "second"}]');
select run_id from pgflow.start_run('records_output') \gset
select attempt from pgflow_tests.poll('records_output') \gset

select pgflow_tests.set_now('2030-01-01 12:00:03+00');
select is(
  pgflow.complete_task(:'run_id', 'first', 0, '{"answer": 42}', :attempt), true, 'complete_task returns true'
);
select is((pgflow_tests.task_row(:'run_id', 'first')).status, 'completed', 'the task is completed');
select is((pgflow_tests.task_row(:'run_id', 'first')).output, '{"answer": 42}'::jsonb, 'its output is recorded');
select is(
  (pgflow_tests.task_row(:'run_id', 'first')).finished_at, '2030-01-01 12:00:03+00'::timestamptz,
  'its finished_at is now'
);

select finish();
rollback;
