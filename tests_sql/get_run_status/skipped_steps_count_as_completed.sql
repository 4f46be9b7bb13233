-- get_run_status counts skipped steps in completed_steps: with a root step whose condition is unmet (skipped) and
-- another root step still running, completed_steps is 1 of 2 and percentage 50.0; the step entry says skipped.
begin;
select plan(3);

select pgflow.define_flow(
  'status_skipped',
  '[{"slug": "gated", "depends_on": [], "if": {"go": true}}, {"slug": "work", "depends_on": []}]'
);
select run_id from pgflow.start_run('status_skipped', '{"go": false}') \gset

select is(pgflow_tests.step_status(:'run_id', 'gated'), 'skipped', 'the gated step was skipped');
select results_eq(
  format(
    $$select (s ->> 'total_steps')::int, (s ->> 'completed_steps')::int, (s ->> 'percentage')::numeric
      from pgflow.get_run_status(%L) as s$$,
    :'run_id'
  ),
  $$values (2, 1, 50.0)$$,
  'the skipped step counts as completed: 1 of 2, 50.0'
);
select is(
  (
    select e.step ->> 'status' from jsonb_array_elements(pgflow.get_run_status(:'run_id') -> 'steps') as e (step)
    where e.step ->> 'step_slug' = 'gated'
  ),
  'skipped',
  'the step entry of the skipped step says skipped'
);

select finish();
rollback;
