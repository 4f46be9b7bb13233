-- A map step can depend on another map step: it maps over the aggregated output of the first map, one task per
-- element in order, and its own output is the ordered array of its task outputs.
begin;
select plan(5);

select pgflow.define_flow(
  'map_over_map',
  '[{"slug": "double", "type": "map"}, {"slug": "square", "type": "map", "depends_on": ["double"]}]'
);
select run_id from pgflow.start_run('map_over_map', '[1, 2, 3]') \gset

select pgflow_tests.complete(:'run_id', 'double', '2', 0);
select pgflow_tests.complete(:'run_id', 'double', '6', 2);
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'square'), 0,
  'the second map waits for every task of the first'
);
select pgflow_tests.complete(:'run_id', 'double', '4', 1);

select results_eq(
  $$select task_index, input from pgflow_tests.poll('map_over_map') where step_slug = 'square' order by task_index$$,
  $$values (0, '2'::jsonb), (1, '4'), (2, '6')$$,
  'the second map has one task per output of the first, in task_index order'
);
select pgflow_tests.complete(:'run_id', 'square', '36', 2);
select pgflow_tests.complete(:'run_id', 'square', '4', 0);
select pgflow_tests.complete(:'run_id', 'square', '16', 1);
select is(
  (select output from pgflow.step_states where run_id = :'run_id' and step_slug = 'square'), '[4, 16, 36]'::jsonb,
  'the second map output is ordered by task_index'
);
select is(pgflow_tests.run_status(:'run_id'), 'completed', 'the run completes');
select is(
  (select output from pgflow.runs where run_id = :'run_id'), '{"square": [4, 16, 36]}'::jsonb,
  'the run output is the second map output'
);

select finish();
rollback;
