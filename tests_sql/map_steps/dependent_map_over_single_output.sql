-- A map step depending on a single step maps over that step's array output: no task before the dependency
-- completes, then one task per element with the element as input.
begin;
select plan(4);

select pgflow.define_flow(
  'dep_map_single',
  '[{"slug": "list"}, {"slug": "each", "type": "map", "depends_on": ["list"]}]'
);
select run_id from pgflow.start_run('dep_map_single', '{"n": 3}') \gset

select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'each'), 0,
  'the map step has no task before its dependency completes'
);
select ok(pgflow_tests.complete(:'run_id', 'list', '[{"id": 1}, {"id": 2}, {"id": 3}]'), 'list completes');
select is(
  (select initial_tasks from pgflow.step_states where run_id = :'run_id' and step_slug = 'each'), 3,
  'the map step counts one task per element'
);
select results_eq(
  $$select task_index, input from pgflow_tests.poll('dep_map_single') order by task_index$$,
  $$values (0, '{"id": 1}'::jsonb), (1, '{"id": 2}'), (2, '{"id": 3}')$$,
  'each map task receives its element of the dependency output'
);

select finish();
rollback;
