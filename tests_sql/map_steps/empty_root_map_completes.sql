-- A root map step started with the input [] completes at once with output [], and a flow made only of it
-- completes in start_run with the output {"each": []}.
begin;
select plan(4);

select pgflow.define_flow('empty_root_map', '[{"slug": "each", "type": "map"}]');
select * from pgflow.start_run('empty_root_map', '[]') \gset run_

select is(:'run_status'::text, 'completed', 'start_run returns the run already completed');
select is(
  (select output from pgflow.runs where run_id = :'run_run_id'), '{"each": []}'::jsonb, 'the run output is {"each": []}'
);
select results_eq(
  format($$select status, output from pgflow.step_states where run_id = %L$$, :'run_run_id'),
  $$values ('completed', '[]'::jsonb)$$,
  'the map step is completed with []'
);
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'run_run_id'), 0, 'no task is created'
);

select finish();
rollback;
