-- Cancelling a completed run raises PF008 and leaves the run completed, with its output and finished_at.
begin;
select plan(3);

select pgflow.define_flow('cancel_completed', '[{"slug": "only"}]');
select run_id from pgflow.start_run('cancel_completed', '{}') \gset
select pgflow_tests.complete(:'run_id', 'only', '"done"');
select finished_at as completed_at from pgflow.runs where run_id = :'run_id' \gset
select pgflow_tests.advance(interval '1 minute');

select throws_ok(format('select pgflow.cancel_run(%L)', :'run_id'), 'PF008', null, 'cancelling a completed run: PF008');
select is(pgflow_tests.run_status(:'run_id'), 'completed', 'the run stays completed');
select is(
  (select row(output, finished_at)::text from pgflow.runs where run_id = :'run_id'),
  row('{"only": "done"}'::jsonb, :'completed_at'::timestamptz)::text,
  'the run keeps its output and finished_at'
);

select finish();
rollback;
