-- Cancelling a failed run raises PF008 and leaves the run failed, with its error and finished_at.
begin;
select plan(3);

select pgflow.define_flow('cancel_failed', '[{"slug": "only"}]', '{"max_attempts": 1}');
select run_id from pgflow.start_run('cancel_failed', '{}') \gset
select pgflow_tests.claim_and_fail(:'run_id', 'only', 'it broke');
select
  error as failed_error,
  finished_at as failed_at
from pgflow.runs where run_id = :'run_id' \gset
select pgflow_tests.advance(interval '1 minute');

select throws_ok(format('select pgflow.cancel_run(%L)', :'run_id'), 'PF008', null, 'cancelling a failed run: PF008');
select is(pgflow_tests.run_status(:'run_id'), 'failed', 'the run stays failed');
select is(
  (select row(error, finished_at)::text from pgflow.runs where run_id = :'run_id'),
  row(:'failed_error', :'failed_at'::timestamptz)::text,
  'the run keeps its error and finished_at'
);

select finish();
rollback;
