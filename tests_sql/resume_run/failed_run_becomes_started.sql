-- resume_run on a failed run (a task exhausted its attempts) returns the run's row, started again with no
-- finished_at, and the stored run says the same.
begin;
select plan(6);

select pgflow_tests.set_now('2024-03-01 12:00:00+00');
select pgflow_tests.define_diamond('resume_failed', '{"max_attempts": 1}');
select run_id from pgflow.start_run('resume_failed', '{}') \gset
select pgflow_tests.complete(:'run_id', 'a', '"A"');
select pgflow_tests.claim_and_fail(:'run_id', 'b', 'b broke');
select is(pgflow_tests.run_status(:'run_id'), 'failed', 'the run failed when b exhausted its attempts');

select pgflow_tests.advance(interval '1 minute');
select
  run_id as returned_run_id,
  status as returned_status,
  finished_at is null as returned_unfinished
from pgflow.resume_run(:'run_id') \gset

select is(:'returned_run_id'::uuid, :'run_id'::uuid, 'resume_run returns the row of the resumed run');
select is(:'returned_status'::text, 'started', 'the returned row is started');
select ok(:'returned_unfinished'::boolean, 'the returned row has no finished_at');
select is(pgflow_tests.run_status(:'run_id'), 'started', 'the stored run is started');
select is(
  (select finished_at from pgflow.runs where run_id = :'run_id'), null, 'the stored run has no finished_at'
);

select finish();
rollback;
