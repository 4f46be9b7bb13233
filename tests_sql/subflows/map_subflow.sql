-- A map sub-flow step starts one child per element, each with its element as input; the step's output is the array
-- of the children's outputs in element order, whatever order they finish in. An empty map completes at once with []
-- and starts no child.
begin;
select plan(7);

select pgflow.define_flow('sf_line', '[{"slug": "price"}]');
select pgflow.define_flow('sf_order', '[{"slug": "lines", "type": "map", "flow": "sf_line"}, {"slug": "total"}]');
select run_id from pgflow.start_run('sf_order', '[10, 20, 30]') \gset

select is(pgflow_tests.child_count(:'run_id'), 3, 'one child per element');
select is(
  (select array_agg(input order by parent_task_index) from pgflow.runs where parent_run_id = :'run_id'),
  array['10', '20', '30']::jsonb[], 'each child gets its element'
);
select
  ok(
    pgflow_tests.complete(pgflow_tests.child_run(:'run_id', 'lines', 2), 'price', '3'),
    'the third child''s task completes first'
  );
select ok(pgflow_tests.complete(pgflow_tests.child_run(:'run_id', 'lines', 0), 'price', '1'), 'then the first');
select is(pgflow_tests.step_status(:'run_id', 'lines'), 'started', 'the step waits for its last child');
select ok(pgflow_tests.complete(pgflow_tests.child_run(:'run_id', 'lines', 1), 'price', '2'), 'then the second');
select is(
  (select output from pgflow.step_states where run_id = :'run_id' and step_slug = 'lines'),
  '[{"price": 1}, {"price": 2}, {"price": 3}]'::jsonb, 'the outputs are in element order'
);

select finish();
rollback;
