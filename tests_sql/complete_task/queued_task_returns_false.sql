-- complete_task on a task that is queued (never claimed) returns false and changes nothing: the task stays
-- queued without output and the step stays started.
begin;
select plan(4);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('complete_queued', '[{"slug": "only"}]');
select run_id from pgflow.start_run('complete_queued') \gset

select is(pgflow.complete_task(:'run_id', 'only', 0, '"early"'), false, 'complete_task on a queued task returns false');
select results_eq(
  format($$select status, attempt, output from pgflow.step_tasks where run_id = %L$$, :'run_id'),
  $$values ('queued', 0, null::jsonb)$$,
  'the task stays queued, without output'
);
select is(pgflow_tests.step_status(:'run_id', 'only'), 'started', 'the step stays started');
select is(pgflow_tests.run_status(:'run_id'), 'started', 'the run stays started');

select finish();
rollback;
