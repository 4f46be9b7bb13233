-- A wait step may be a root step (it waits from the start of the run) and may feed a map step, which maps over
-- its payload; a payload that is not an array fails the run as any map source's would.
begin;
select plan(7);

select pgflow.define_flow(
  'batch',
  '[{"slug": "items", "type": "wait"}, {"slug": "each", "type": "map", "depends_on": ["items"]}]'
);
select run_id from pgflow.start_run('batch', '{}') \gset
select is(pgflow_tests.step_status(:'run_id', 'items'), 'started', 'the root wait step waits from the start');
select is_empty($$select * from pgflow_tests.poll('batch')$$, 'nothing to claim');

select ok(pgflow.signal(:'run_id', 'items', '["a", "b", "c"]'), 'the signal is recorded');
select results_eq(
  $$select task_index, input from pgflow_tests.poll('batch') order by task_index$$,
  $$values (0, '"a"'::jsonb), (1, '"b"'::jsonb), (2, '"c"'::jsonb)$$,
  'the map step maps over the payload'
);

select run_id as bad_id from pgflow.start_run('batch', '{}') \gset
select ok(pgflow.signal(:'bad_id', 'items', '{"not": "an array"}'), 'a payload that is no array is recorded');
select is(pgflow_tests.run_status(:'bad_id'), 'failed', 'the run fails at the map step');
select is(
  (select error from pgflow.runs where run_id = :'bad_id'),
  'step ''items'' returned object, but map step ''each'' needs a JSON array to map over',
  'with the map source''s error'
);

select finish();
rollback;
