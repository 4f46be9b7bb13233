-- get_run_status returns the JSON document of SPEC §3.2: every key of its example is present at the top level and
-- in each step entry, and the run-level values describe the run (ids, version, status, input, null output, error
-- and finished_at while started, started_at).
begin;
select plan(12);

select pgflow_tests.set_now('2024-03-01 12:00:00+00');
select pgflow_tests.define_diamond('status_keys');
select run_id from pgflow.start_run('status_keys', '{"n": 7}') \gset
select pgflow.get_run_status(:'run_id') as doc \gset

select ok(
  :'doc'::jsonb ?& array[
    'run_id', 'flow_slug', 'flow_version', 'status', 'total_steps', 'completed_steps', 'percentage', 'total_tasks',
    'completed_tasks', 'input', 'output', 'error', 'started_at', 'finished_at', 'steps'
  ],
  'every top-level key of the SPEC example is present'
);
select is(jsonb_typeof(:'doc'::jsonb -> 'steps'), 'array', 'steps is an array');
select is(jsonb_array_length(:'doc'::jsonb -> 'steps'), 4, 'steps has one entry per step');
select is(
  (
    select count(*)::int from jsonb_array_elements(:'doc'::jsonb -> 'steps') as e (step)
    where e.step ?& array['step_slug', 'step_type', 'status', 'total_tasks', 'completed_tasks', 'attempts', 'error']
  ),
  4,
  'every step entry has every key of the SPEC example'
);
select is((:'doc'::jsonb ->> 'run_id')::uuid, :'run_id'::uuid, 'run_id is the run''s id');
select is(:'doc'::jsonb ->> 'flow_slug', 'status_keys', 'flow_slug is the flow''s slug');
select is(:'doc'::jsonb -> 'flow_version', '1'::jsonb, 'flow_version is the version as a number');
select is(:'doc'::jsonb ->> 'status', 'started', 'status is the run''s status');
select is(:'doc'::jsonb -> 'input', '{"n": 7}'::jsonb, 'input is the run input');
select is(
  jsonb_build_array(:'doc'::jsonb -> 'output', :'doc'::jsonb -> 'error', :'doc'::jsonb -> 'finished_at'),
  '[null, null, null]'::jsonb,
  'output, error and finished_at are JSON null while the run is started'
);
select is(
  (:'doc'::jsonb ->> 'started_at')::timestamptz, '2024-03-01 12:00:00+00'::timestamptz,
  'started_at is the time the run started'
);
select is(
  (
    select array_agg(jsonb_typeof(:'doc'::jsonb -> k) order by k)
    from unnest(array['completed_steps', 'completed_tasks', 'percentage', 'total_steps', 'total_tasks']) as k
  ),
  array['number', 'number', 'number', 'number', 'number'],
  'the counts and the percentage are JSON numbers'
);

select finish();
rollback;
