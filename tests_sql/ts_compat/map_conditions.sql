-- A condition on a dependent map step is written by pgflow over {dependency: array}; here a map step's condition is
-- matched against the array it maps over, so add_step stores {"dep": [elements]} as [elements] and {} as [] (met
-- by every array). The run behaves as pgflow's would.
begin;
select plan(6);

select lives_ok(
  $sql$
SELECT pgflow.create_flow('ts_map_condition');
SELECT pgflow.add_step('ts_map_condition', 'list');
SELECT pgflow.add_step('ts_map_condition', 'each_urgent', ARRAY['list'], required_input_pattern => '{"list":["urgent"]}', step_type => 'map');
SELECT pgflow.add_step('ts_map_condition', 'each_plain', ARRAY['list'], forbidden_input_pattern => '{"list":["urgent"]}', when_unmet => 'skip', step_type => 'map');
SELECT pgflow.add_step('ts_map_condition', 'each_any', ARRAY['list'], required_input_pattern => '{}', step_type => 'map');
  $sql$,
  'the compiled statements run'
);
select results_eq(
  $$select step_slug, condition_if, condition_if_not from pgflow.steps
    where flow_slug = 'ts_map_condition' and step_type = 'map' order by step_index$$,
  $$values ('each_urgent', '["urgent"]'::jsonb, null::jsonb), ('each_plain', null, '["urgent"]'::jsonb),
           ('each_any', '[]'::jsonb, null)$$,
  'the patterns are stored over the mapped array'
);

select run_id as urgent from pgflow.start_flow('ts_map_condition', '{}') \gset
select pgflow_tests.complete(:'urgent', 'list', '["urgent", "later"]');
select results_eq(
  format(
    $$select step_slug, status, initial_tasks from pgflow.step_states where run_id = %L and step_slug like 'each%%'
      order by step_slug$$,
    :'urgent'
  ),
  $$values ('each_any', 'started', 2), ('each_plain', 'skipped', null), ('each_urgent', 'started', 2)$$,
  'an array holding "urgent": the urgent and the unconditional maps start, the plain one is skipped'
);

select run_id as calm from pgflow.start_flow('ts_map_condition', '{}') \gset
select pgflow_tests.complete(:'calm', 'list', '["later"]');
select is(pgflow_tests.step_status(:'calm', 'each_urgent'), 'skipped', 'without "urgent" the urgent map is skipped');
select is(pgflow_tests.step_status(:'calm', 'each_plain'), 'started', 'and the plain one starts');
select is(pgflow_tests.step_status(:'calm', 'each_any'), 'started', 'an empty pattern is always met');

select finish();
rollback;
