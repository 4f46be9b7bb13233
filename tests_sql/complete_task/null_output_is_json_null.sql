-- complete_task accepts an SQL NULL output and stores it as JSON null (on the task, the step and the run output).
begin;
select plan(4);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('null_output', '[{"slug": "only"}]');
select run_id from pgflow.start_run('null_output') \gset
select attempt from pgflow_tests.poll('null_output') \gset

select is(pgflow.complete_task(:'run_id', 'only', 0, null, :attempt), true, 'an SQL NULL output is accepted');
select is((pgflow_tests.task_row(:'run_id', 'only')).output, 'null'::jsonb, 'the task output is JSON null');
select is(
  (select output from pgflow.step_states where run_id = :'run_id' and step_slug = 'only'), 'null'::jsonb,
  'the step output is JSON null'
);
select is(
  (select output from pgflow.runs where run_id = :'run_id'), '{"only": null}'::jsonb, 'the run output holds it'
);

select finish();
rollback;
