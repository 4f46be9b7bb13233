-- A second complete_task for a task already completed returns false and changes nothing: the first output
-- stays, on the task and on the step.
begin;
select plan(4);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('complete_twice', '[{"slug": "only"}, {"slug": "next"}]');
select run_id from pgflow.start_run('complete_twice') \gset
select attempt from pgflow_tests.poll('complete_twice') \gset

select is(pgflow.complete_task(:'run_id', 'only', 0, '"first"', :attempt), true, 'the first completion is recorded');
select is(
  pgflow.complete_task(:'run_id', 'only', 0, '"second"', :attempt), false, 'the second one, same attempt, returns false'
);
select is(
  pgflow.complete_task(:'run_id', 'only', 0, '"third"'), false, 'so does one without an attempt'
);
select results_eq(
  format(
    $$select t.output, ss.output from pgflow.step_tasks as t
      inner join pgflow.step_states as ss on ss.run_id = t.run_id and ss.step_slug = t.step_slug
      where t.run_id = %L and t.step_slug = 'only'$$,
    :'run_id'
  ),
  $$values ('"first"'::jsonb, '"first"'::jsonb)$$,
  'the first output stays on the task and the step'
);

select finish();
rollback;
