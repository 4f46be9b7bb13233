-- A flow with two leaves (root -> left, root -> right): the run output has one key per leaf with its output,
-- and the run completes only when both leaves have.
begin;
select plan(3);

select pgflow.define_flow(
  'output_two_leaves',
  '[{"slug": "root"}, {"slug": "left", "depends_on": ["root"]}, {"slug": "right", "depends_on": ["root"]}]'
);
select run_id from pgflow.start_run('output_two_leaves', '{}') \gset

select pgflow_tests.complete(:'run_id', 'root', '"r"');
select pgflow_tests.complete(:'run_id', 'right', '[1, 2]');
select is(pgflow_tests.run_status(:'run_id'), 'started', 'the run waits for the other leaf');
select pgflow_tests.complete(:'run_id', 'left', '{"l": 1}');
select is(pgflow_tests.run_status(:'run_id'), 'completed', 'the run completes with its last leaf');
select is(
  (select output from pgflow.runs where run_id = :'run_id'), '{"left": {"l": 1}, "right": [1, 2]}'::jsonb,
  'the output has both leaves and not the root'
);

select finish();
rollback;
