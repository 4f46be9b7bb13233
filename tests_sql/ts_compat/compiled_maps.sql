-- Map steps as pgflow's compiler writes them (step_type => 'map' last): a root map over the run input and a
-- dependent map over its one dependency's output, each aggregating its tasks' outputs in order.
begin;
select plan(7);

select lives_ok(
  $sql$
SELECT pgflow.create_flow('ts_root_map');
SELECT pgflow.add_step('ts_root_map', 'double', max_attempts => 2, step_type => 'map');
SELECT pgflow.add_step('ts_root_map', 'total', ARRAY['double']);
SELECT pgflow.create_flow('ts_dep_map', timeout => 15);
SELECT pgflow.add_step('ts_dep_map', 'fetch_items');
SELECT pgflow.add_step('ts_dep_map', 'process_item', ARRAY['fetch_items'], timeout => 5, step_type => 'map');
SELECT pgflow.add_step('ts_dep_map', 'aggregate', ARRAY['process_item']);
  $sql$,
  'the compiled statements run'
);
select results_eq(
  $$select flow_slug, step_slug, step_type, max_attempts, timeout
    from pgflow.steps where step_type = 'map' and flow_slug like 'ts\_%' order by flow_slug$$,
  $$values ('ts_dep_map', 'process_item', 'map', 3, 5::numeric), ('ts_root_map', 'double', 'map', 2, 60::numeric)$$,
  'both map steps are maps, with their options'
);

select run_id as root_run from pgflow.start_flow('ts_root_map', '[1, 2, 3]') \gset
select pgflow_tests.complete(:'root_run', 'double', '2', 0);
select pgflow_tests.complete(:'root_run', 'double', '4', 1);
select pgflow_tests.complete(:'root_run', 'double', '6', 2);
select is(
  (select input from pgflow_tests.claim(:'root_run', 'total')), '{"double": [2, 4, 6]}'::jsonb,
  'the root map''s output is its tasks'' outputs in order'
);
select throws_ok(
  $$select pgflow.start_flow('ts_root_map', '{"not": "an array"}')$$, 'PF005', null,
  'a root map over a non-array input starts no run'
);

select run_id as dep_run from pgflow.start_flow('ts_dep_map', '{}') \gset
select pgflow_tests.complete(:'dep_run', 'fetch_items', '["a", "b"]');
select is(
  (select input from pgflow_tests.claim(:'dep_run', 'process_item', 1)), '"b"'::jsonb,
  'a dependent map task gets its element'
);
select pgflow.complete_task(:'dep_run', 'process_item', 1, '"B"');
select pgflow_tests.complete(:'dep_run', 'process_item', '"A"', 0);
select pgflow_tests.complete(:'dep_run', 'aggregate', '2');
select is(
  (select output from pgflow.step_states where run_id = :'dep_run' and step_slug = 'process_item'),
  '["A", "B"]'::jsonb,
  'completed out of order, the map''s output is in task order'
);
select is(pgflow_tests.run_status(:'dep_run'), 'completed', 'the run completes');

select finish();
rollback;
