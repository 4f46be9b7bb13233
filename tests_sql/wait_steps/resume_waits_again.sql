-- resume_run re-opens a wait step that timed out (or was cancelled) as waiting again, held by the engine, with its
-- deadline counted from the resume; a signal then completes it. A signal kept for a step that had not started
-- when the run ended completes that step as soon as it is ready after the resume.
begin;
select plan(10);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select pgflow.define_flow(
  'again',
  '[{"slug": "approval", "type": "wait", "timeout": 60}, {"slug": "ship", "depends_on": ["approval"]}]'
);
select run_id from pgflow.start_run('again', '{}') \gset
select pgflow.expire_tasks();  -- (the engine notices the server's start now, not after the deadline)
select pgflow_tests.set_now('2030-01-01 00:01:00+00');
select pgflow.expire_tasks();
select is(pgflow_tests.run_status(:'run_id'), 'failed', 'the run failed at the wait''s timeout');

select pgflow_tests.set_now('2030-01-01 02:00:00+00');
select is((pgflow.resume_run(:'run_id')).status, 'started', 'the run is resumed');
select results_eq(
  $$select status, attempt, attempts_base, worker_id, started_at, deadline, fair_round
    from pgflow.step_tasks where step_slug = 'approval'$$,
  $$values ('started'::text, 2, 1, null::text, '2030-01-01 02:00:00+00'::timestamptz,
            '2030-01-01 02:01:00+00'::timestamptz, null::bigint)$$,
  'the wait task waits again, held by the engine, with a deadline from the resume'
);
select is(pgflow_tests.step_status(:'run_id', 'approval'), 'started', 'the wait step is started');
select is_empty($$select * from pgflow_tests.poll('again')$$, 'no poll claims it');
select ok(pgflow.signal(:'run_id', 'approval', '"yes"'), 'a signal completes it');
select results_eq(
  $$select step_slug, input from pgflow_tests.poll('again')$$,
  $$values ('ship'::text, '{"approval": "yes"}'::jsonb)$$,
  'and the dependent runs'
);

-- a signal kept while the step was created, across a cancel and a resume
select pgflow.define_flow(
  'kept',
  '[{"slug": "first"}, {"slug": "approval", "type": "wait", "depends_on": ["first"]}]'
);
select run_id as kept_id from pgflow.start_run('kept', '{}') \gset
select ok(pgflow.signal(:'kept_id', 'approval', '"early"'), 'an early signal is kept');
select pgflow.cancel_run(:'kept_id');
select pgflow.resume_run(:'kept_id');
select ok(pgflow_tests.complete(:'kept_id', 'first', '1'), 'after a cancel and a resume, the dependency completes');
select is(pgflow_tests.run_status(:'kept_id'), 'completed', 'the kept signal completed the wait step and the run');

select finish();
rollback;
