-- A cancelled run resumes the same way as a failed one: it becomes started, its completed step is kept and not
-- re-run, its cancelled tasks are queued again, and it then completes with the expected output.
begin;
select plan(8);

select pgflow_tests.define_diamond('resume_cancelled');
select run_id from pgflow.start_run('resume_cancelled', '{}') \gset
select pgflow_tests.complete(:'run_id', 'a', '"A"');
select pgflow_tests.claim(:'run_id', 'b');
select pgflow.cancel_run(:'run_id', 'paused by operator');

select is((pgflow.resume_run(:'run_id')).status, 'started', 'resume_run returns the run started');
select is(pgflow_tests.run_status(:'run_id'), 'started', 'the stored run is started');
select is(
  (select row(status, output)::text from pgflow.step_states where run_id = :'run_id' and step_slug = 'a'),
  row('completed', '"A"'::jsonb)::text,
  'a stays completed with its output'
);
select set_eq(
  $$select step_slug, task_index from pgflow_tests.poll('resume_cancelled')$$,
  $$values ('b', 0), ('c', 0)$$,
  'the poll offers the cancelled tasks of b and c, not a'
);
select ok(pgflow_tests.complete(:'run_id', 'b', '"B"'), 'b completes');
select ok(pgflow_tests.complete(:'run_id', 'c', '"C"'), 'c completes');
select ok(pgflow_tests.complete(:'run_id', 'd', '"D"'), 'd completes');
select is(
  (select row(status, output)::text from pgflow.runs where run_id = :'run_id'),
  row('completed', '{"d": "D"}'::jsonb)::text,
  'the run completes with the expected output'
);

select finish();
rollback;
