-- start_run creates one step state per step of the flow version: steps with dependencies wait in status
-- created with remaining_deps = their number of dependencies; root steps (no dependencies) start at once.
begin;
select plan(3);

select pgflow_tests.define_diamond('step_state_per_step');
select run_id from pgflow.start_run('step_state_per_step') \gset

select results_eq(
  format(
    $$select step_slug, status, remaining_deps from pgflow.step_states where run_id = %L order by step_slug$$,
    :'run_id'
  ),
  $$values ('a', 'started', 0), ('b', 'created', 1), ('c', 'created', 1), ('d', 'created', 2)$$,
  'one step state per step, remaining_deps counting its dependencies'
);
select ok(
  (
    select bool_and(remaining_tasks is null and output is null and started_at is null)
    from pgflow.step_states where run_id = :'run_id' and status = 'created'
  ),
  'waiting steps have no tasks counted, no output and no started_at'
);
select is(
  (select remaining_tasks from pgflow.step_states where run_id = :'run_id' and step_slug = 'a'), 1,
  'the root single step has one remaining task'
);

select finish();
rollback;
