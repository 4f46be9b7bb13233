-- Resuming a completed run raises PF008 and leaves the run completed with its output.
begin;
select plan(2);

select pgflow.define_flow('resume_completed', '[{"slug": "only"}]');
select run_id from pgflow.start_run('resume_completed', '{}') \gset
select pgflow_tests.complete(:'run_id', 'only', '"done"');

select throws_ok(format('select pgflow.resume_run(%L)', :'run_id'), 'PF008', null, 'resuming a completed run: PF008');
select is(
  (select row(status, output)::text from pgflow.runs where run_id = :'run_id'),
  row('completed', '{"only": "done"}'::jsonb)::text,
  'the run stays completed with its output'
);

select finish();
rollback;
