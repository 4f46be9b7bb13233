-- A step feeding a map step that returns a non-array fails the run at once, with an error naming both the
-- producing step and the map step; the map step gets no task and nothing of the run stays claimable.
begin;
select plan(6);

select pgflow.define_flow(
  'map_fed_non_array',
  '[{"slug": "producer"},
    {"slug": "mapper", "type": "map", "depends_on": ["producer"]},
    {"slug": "bystander"}]'
);
select run_id from pgflow.start_run('map_fed_non_array', '{}') \gset

select pgflow_tests.complete(:'run_id', 'producer', '{"items": [1, 2]}');

select is(pgflow_tests.run_status(:'run_id'), 'failed', 'the run fails at once');
select matches(
  (select error from pgflow.runs where run_id = :'run_id'), 'producer', 'the run error names the producing step'
);
select matches(
  (select error from pgflow.runs where run_id = :'run_id'), 'mapper', 'the run error names the map step'
);
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'mapper'), 0,
  'the map step has no task'
);
select is_empty(
  $$select * from pgflow_tests.poll('map_fed_non_array')$$, 'the queued task of the other root is no longer claimable'
);
select is(
  (select finished_at is not null from pgflow.runs where run_id = :'run_id'), true, 'the failed run is finished'
);

select finish();
rollback;
