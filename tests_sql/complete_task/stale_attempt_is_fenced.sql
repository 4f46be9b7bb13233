-- Fencing: attempt 1 times out and attempt 2 starts; the late complete_task of attempt 1 returns false and
-- changes nothing (task row unchanged, step not completed); complete_task with attempt 2 then succeeds.
begin;
select plan(8);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('complete_fenced', '[{"slug": "only", "timeout": 10, "base_delay": 0}]');
select run_id from pgflow.start_run('complete_fenced') \gset
select is((select attempt from pgflow_tests.poll('complete_fenced')), 1, 'attempt 1 starts');

select pgflow_tests.set_now('2030-01-01 12:00:11+00');
select is((select attempt from pgflow_tests.poll('complete_fenced')), 2, 'past its deadline, attempt 2 starts');

create temporary table fenced_before as
select * from pgflow.step_tasks where run_id = :'run_id';

select is(pgflow.complete_task(:'run_id', 'only', 0, '"late"', 1), false, 'the late report of attempt 1 returns false');
select results_eq(
  format($$select * from pgflow.step_tasks where run_id = %L$$, :'run_id'),
  $$select * from fenced_before$$,
  'the task row is unchanged'
);
select is(pgflow_tests.step_status(:'run_id', 'only'), 'started', 'the step is not completed');
select is(pgflow_tests.run_status(:'run_id'), 'started', 'the run is not completed');

select is(pgflow.complete_task(:'run_id', 'only', 0, '"current"', 2), true, 'the report of attempt 2 is recorded');
select results_eq(
  format($$select status, output from pgflow.step_states where run_id = %L$$, :'run_id'),
  $$values ('completed', '"current"'::jsonb)$$,
  'the step completes with attempt 2''s output'
);

select finish();
rollback;
