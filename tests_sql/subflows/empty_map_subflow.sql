-- A map sub-flow step over an empty array completes at once with [] and starts no child run.
begin;
select plan(3);

select pgflow.define_flow('sf_line', '[{"slug": "price"}]');
select pgflow.define_flow('sf_order', '[{"slug": "lines", "type": "map", "flow": "sf_line"}]');
select run_id from pgflow.start_run('sf_order', '[]') \gset

select is(pgflow_tests.child_count(:'run_id'), 0, 'no child is started');
select is(
  (select output from pgflow.step_states where run_id = :'run_id' and step_slug = 'lines'), '[]'::jsonb,
  'the step completes with []'
);
select is(pgflow_tests.run_status(:'run_id'), 'completed', 'the run completes');

select finish();
rollback;
