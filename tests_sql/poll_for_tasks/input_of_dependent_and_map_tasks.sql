-- The input of a claimed task: a dependent single step gets {dep_slug: dep_output} over its dependencies, a map
-- step gets its array element; flow_input is always the run input.
begin;
select plan(5);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow(
  'task_inputs',
  '[{"slug": "first"},
    {"slug": "list", "depends_on": ["first"]},
    {"slug": "each", "type": "map", "depends_on": ["list"]}]'
);
select run_id from pgflow.start_run('task_inputs', '{"run": "input"}') \gset
select ok(pgflow_tests.complete(:'run_id', 'first', '{"f": 1}'), 'first completes');

select results_eq(
  $$select input, flow_input from pgflow.poll_for_tasks('input_worker', array['task_inputs'])$$,
  $$values ('{"first": {"f": 1}}'::jsonb, '{"run": "input"}'::jsonb)$$,
  'a dependent step receives its dependency outputs by slug, and the run input as flow_input'
);
select ok(
  pgflow.complete_task(:'run_id', 'list', 0, '["x", {"y": 2}, 3]', 1), 'list completes with a three-element array'
);
select results_eq(
  $$select task_index, input, flow_input from pgflow.poll_for_tasks('input_worker', array['task_inputs'])
    order by task_index$$,
  $$values
    (0, '"x"'::jsonb, '{"run": "input"}'::jsonb),
    (1, '{"y": 2}'::jsonb, '{"run": "input"}'::jsonb),
    (2, '3'::jsonb, '{"run": "input"}'::jsonb)$$,
  'each map task receives the element at its index'
);
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'each'), 3,
  'the map step has one task per element'
);

select finish();
rollback;
