-- start_run creates one run row of the flow's current version: status started, the input stored as given,
-- started_at the engine's clock, no output, error or finished_at yet.
begin;
select plan(8);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('creates_run_row', '[{"slug": "a"}]');
-- a different definition: version 2 becomes current
select pgflow.define_flow('creates_run_row', '[{"slug": "a"}, {"slug": "b"}]');

select * from pgflow.start_run('creates_run_row', '{"n": 1, "tags": ["x"]}') \gset run_

select is(
  (select count(*)::int from pgflow.runs where flow_slug = 'creates_run_row'), 1, 'one run row is created'
);
select is(:'run_status'::text, 'started', 'the returned run is started');
select is(:run_flow_version, 2, 'the returned run uses the current version');
select is(
  (select flow_version from pgflow.runs where run_id = :'run_run_id'), 2, 'the stored run uses the current version'
);
select is(
  (select input from pgflow.runs where run_id = :'run_run_id'), '{"n": 1, "tags": ["x"]}'::jsonb,
  'the input is stored as given'
);
select is(
  (select started_at from pgflow.runs where run_id = :'run_run_id'), '2030-01-01 12:00:00+00'::timestamptz,
  'started_at is the engine clock'
);
select ok(
  (select finished_at is null and output is null and error is null from pgflow.runs where run_id = :'run_run_id'),
  'a new run has no finished_at, output or error'
);
select is(
  (select flow_slug from pgflow.runs where run_id = :'run_run_id'), 'creates_run_row', 'the run names its flow'
);

select finish();
rollback;
