-- After resume_run, a step that never started starts only when its dependencies finish: in a -> (b, c) -> d with
-- a completed and b failing the run, d gets no task after the resume nor after b completes; it starts when c
-- completes, with both outputs as input.
begin;
select plan(6);

select pgflow_tests.define_diamond('resume_waits', '{"max_attempts": 1}');
select run_id from pgflow.start_run('resume_waits', '{}') \gset
select pgflow_tests.complete(:'run_id', 'a', '"A"');
select pgflow_tests.claim_and_fail(:'run_id', 'b', 'b broke');

select pgflow.resume_run(:'run_id');

select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'd'), 0,
  'right after the resume, d has no task'
);
select ok(pgflow_tests.complete(:'run_id', 'b', '"B"'), 'b completes');
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'd'), 0,
  'd still has no task while c is not done'
);
select ok(pgflow_tests.complete(:'run_id', 'c', '"C"'), 'c completes');
select is(pgflow_tests.step_status(:'run_id', 'd'), 'started', 'd starts once both its dependencies are done');
select is(
  (pgflow_tests.claim(:'run_id', 'd')).input, '{"b": "B", "c": "C"}'::jsonb,
  'd receives the outputs of b and c'
);

select finish();
rollback;
