-- get_step_outputs gives every completed step's output, intermediate steps included (a map step's is the array
-- of its task outputs); skipped, failed and unfinished steps are absent; an unknown run is PF006.
begin;
select plan(6);

select pgflow.define_flow(
  'outputs_flow',
  '[{"slug": "list"},
    {"slug": "each", "type": "map", "depends_on": ["list"]},
    {"slug": "gated", "depends_on": ["list"], "if": {"list": [99]}},
    {"slug": "total", "depends_on": ["each", "gated"]}]'
);
select run_id from pgflow.start_run('outputs_flow') \gset

select is(pgflow.get_step_outputs(:'run_id'), '{}'::jsonb, 'before anything completes: {}');
select pgflow_tests.complete(:'run_id', 'list', '[1, 2]');
select pgflow_tests.complete(:'run_id', 'each', '10', 0);
select is(
  pgflow.get_step_outputs(:'run_id'), '{"list": [1, 2]}'::jsonb,
  'mid-map: the completed step only (the map step is not completed, gated was skipped)'
);
select pgflow_tests.complete(:'run_id', 'each', '20', 1);
select pgflow_tests.complete(:'run_id', 'total', '{"sum": 30}');
select is(
  pgflow.get_step_outputs(:'run_id'), '{"list": [1, 2], "each": [10, 20], "total": {"sum": 30}}'::jsonb,
  'finished: every completed step, intermediate ones included; the skipped one is absent'
);
select is(
  (select output from pgflow.runs where run_id = :'run_id'), '{"total": {"sum": 30}}'::jsonb,
  'while the run output holds the leaf only'
);
select throws_ok(
  $$select pgflow.get_step_outputs('00000000-0000-0000-0000-000000000000')$$, 'PF006', null, 'an unknown run is PF006'
);
select throws_ok($$select pgflow.get_step_outputs(null)$$, 'PF005', null, 'a null run_id is PF005');

select finish();
rollback;
