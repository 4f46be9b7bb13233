-- A single step completes with its only task and its output equals that task's output.
begin;
select plan(3);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('single_output', '[{"slug": "first"}, {"slug": "second"}]');
select run_id from pgflow.start_run('single_output') \gset

select ok(pgflow_tests.complete(:'run_id', 'first', '[1, {"two": 2}, "three"]'), 'first completes');
select is(pgflow_tests.step_status(:'run_id', 'first'), 'completed', 'the step is completed');
select is(
  (select output from pgflow.step_states where run_id = :'run_id' and step_slug = 'first'),
  '[1, {"two": 2}, "three"]'::jsonb,
  'the step output is the task output'
);

select finish();
rollback;
