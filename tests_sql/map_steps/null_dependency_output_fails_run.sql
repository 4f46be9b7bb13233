-- A JSON null is not an array: a step feeding a map step that returns null fails the run, with an error naming
-- both steps.
begin;
select plan(3);

select pgflow.define_flow(
  'map_fed_null',
  '[{"slug": "source"}, {"slug": "fan_out", "type": "map", "depends_on": ["source"]}]'
);
select run_id from pgflow.start_run('map_fed_null', '{}') \gset

select pgflow_tests.complete(:'run_id', 'source', 'null');

select is(pgflow_tests.run_status(:'run_id'), 'failed', 'the run fails');
select matches((select error from pgflow.runs where run_id = :'run_id'), 'source', 'the error names the producer');
select matches((select error from pgflow.runs where run_id = :'run_id'), 'fan_out', 'the error names the map step');

select finish();
rollback;
