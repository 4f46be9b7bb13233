-- A resumed run then completes normally: after b failed the diamond and the run was resumed, completing b, c and d
-- completes the run with output {"d": ...}, finished_at set and no error.
begin;
select plan(6);

select pgflow_tests.set_now('2024-03-01 12:00:00+00');
select pgflow_tests.define_diamond('resume_completes', '{"max_attempts": 1}');
select run_id from pgflow.start_run('resume_completes', '{"n": 1}') \gset
select pgflow_tests.complete(:'run_id', 'a', '"A"');
select pgflow_tests.claim_and_fail(:'run_id', 'b', 'b broke');
select pgflow_tests.advance(interval '1 minute');
select pgflow.resume_run(:'run_id');

select ok(pgflow_tests.complete(:'run_id', 'b', '"B"'), 'b completes');
select ok(pgflow_tests.complete(:'run_id', 'c', '"C"'), 'c completes');
select ok(pgflow_tests.complete(:'run_id', 'd', '{"merged": true}'), 'd completes');
select is(pgflow_tests.run_status(:'run_id'), 'completed', 'the run completes');
select is(
  (select output from pgflow.runs where run_id = :'run_id'), '{"d": {"merged": true}}'::jsonb,
  'the run''s output is the leaf step''s output'
);
select is(
  (select row(finished_at, error)::text from pgflow.runs where run_id = :'run_id'),
  row('2024-03-01 12:01:00+00'::timestamptz, null::text)::text,
  'the run has finished_at set and no error'
);

select finish();
rollback;
