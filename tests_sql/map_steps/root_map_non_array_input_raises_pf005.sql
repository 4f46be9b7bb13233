-- A root map step needs the run input to be a JSON array: an object, a scalar or null raises PF005, and no
-- run, step state or task is created.
begin;
select plan(6);

select pgflow.define_flow(
  'root_map_bad_input', '[{"slug": "prepare"}, {"slug": "each", "type": "map", "depends_on": []}]'
);
select count(*) as states_before from pgflow.step_states \gset
select count(*) as tasks_before from pgflow.step_tasks \gset

select throws_ok(
  $$select pgflow.start_run('root_map_bad_input', '{"items": [1, 2]}')$$, 'PF005', null, 'an object input raises PF005'
);
select throws_ok(
  $$select pgflow.start_run('root_map_bad_input', '42')$$, 'PF005', null, 'a number input raises PF005'
);
select throws_ok(
  $$select pgflow.start_run('root_map_bad_input')$$, 'PF005', null, 'the default input {} raises PF005'
);
select is(
  (select count(*)::int from pgflow.runs where flow_slug = 'root_map_bad_input'), 0, 'no run is created'
);
select is((select count(*) from pgflow.step_states), :states_before::bigint, 'no step state is created');
select is((select count(*) from pgflow.step_tasks), :tasks_before::bigint, 'no task is created');

select finish();
rollback;
