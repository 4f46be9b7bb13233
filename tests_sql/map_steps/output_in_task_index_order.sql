-- A map step's output is the array of its task outputs in task_index order, even when the tasks complete out of
-- order; the step completes only with its last task, and its dependent receives the ordered array.
begin;
select plan(7);

select pgflow.define_flow(
  'map_output_order',
  '[{"slug": "each", "type": "map"}, {"slug": "after", "depends_on": ["each"]}]'
);
select run_id from pgflow.start_run('map_output_order', '[10, 20, 30]') \gset

select ok(pgflow_tests.complete(:'run_id', 'each', '"third"', 2), 'task 2 completes first');
select ok(pgflow_tests.complete(:'run_id', 'each', '"first"', 0), 'task 0 completes second');
select results_eq(
  format(
    $$select status, remaining_tasks from pgflow.step_states where run_id = %L and step_slug = 'each'$$, :'run_id'
  ),
  $$values ('started', 1)$$,
  'the map step stays started with one task left'
);
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'after'), 0,
  'the dependent does not start before the last map task'
);
select ok(pgflow_tests.complete(:'run_id', 'each', '"second"', 1), 'task 1 completes last');
select is(
  (select output from pgflow.step_states where run_id = :'run_id' and step_slug = 'each'),
  '["first", "second", "third"]'::jsonb,
  'the map output is ordered by task_index, not by completion'
);
select is(
  (select input from pgflow_tests.poll('map_output_order') where step_slug = 'after'),
  '{"each": ["first", "second", "third"]}'::jsonb,
  'the dependent receives the ordered array'
);

select finish();
rollback;
