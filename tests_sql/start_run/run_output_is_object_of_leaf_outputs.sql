-- When every step is completed the run becomes completed and its output is {leaf_slug: output} over the leaf
-- steps only (SPEC 3.5): in the chain first -> middle -> last, only last's output appears.
begin;
select plan(5);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select pgflow.define_flow('output_chain', '[{"slug": "first"}, {"slug": "middle"}, {"slug": "last"}]');
select run_id from pgflow.start_run('output_chain', '{}') \gset

select pgflow_tests.complete(:'run_id', 'first', '1');
select pgflow_tests.complete(:'run_id', 'middle', '2');
select is(pgflow_tests.run_status(:'run_id'), 'started', 'the run is still started while a step is left');
select is((select output from pgflow.runs where run_id = :'run_id'), null, 'a started run has no output');

select pgflow_tests.advance(interval '3 seconds');
select pgflow_tests.complete(:'run_id', 'last', '{"done": true}');
select is(pgflow_tests.run_status(:'run_id'), 'completed', 'the run completes with its last step');
select is(
  (select output from pgflow.runs where run_id = :'run_id'), '{"last": {"done": true}}'::jsonb,
  'the output holds the leaf step only'
);
select is(
  (select finished_at from pgflow.runs where run_id = :'run_id'), '2030-01-01 00:00:03+00'::timestamptz,
  'finished_at is the time of the last completion'
);

select finish();
rollback;
