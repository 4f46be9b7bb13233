-- A wait step's timeout counts from when it became ready; once it has passed, a poll fails the step without
-- retry, with an error naming the step and the timeout, and the run fails (when_exhausted "fail", the default).
-- A signal after the deadline, before any poll noticed, returns false and fails it the same way.
begin;
select plan(9);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select pgflow.define_flow(
  'late',
  '[{"slug": "order"}, {"slug": "approval", "type": "wait", "depends_on": ["order"], "timeout": 600}]',
  '{"max_attempts": 5, "timeout": 30}'
);
select run_id from pgflow.start_run('late', '{}') \gset
select pgflow_tests.set_now('2030-01-01 01:00:00+00');
select pgflow_tests.complete(:'run_id', 'order', '1');

select pgflow_tests.set_now('2030-01-01 01:09:59+00');
select is_empty($$select * from pgflow_tests.poll('late')$$, 'a poll before the deadline claims nothing');
select is(pgflow_tests.step_status(:'run_id', 'approval'), 'started', 'the step still waits 599 s after it was ready');

select pgflow_tests.set_now('2030-01-01 01:10:00+00');
select is_empty($$select * from pgflow_tests.poll('late')$$, 'a poll at the deadline claims nothing');
select is(pgflow_tests.step_status(:'run_id', 'approval'), 'failed', 'and fails the step');
select results_eq(
  $$select status, attempt, error from pgflow.step_tasks where step_slug = 'approval'$$,
  $$values ('failed'::text, 1, 'no signal within the timeout of 600 s'::text)$$,
  'its task failed at its first attempt, without retry (the flow''s max_attempts does not apply)'
);
select is(pgflow_tests.run_status(:'run_id'), 'failed', 'the run failed');
select is(
  (select error from pgflow.runs where run_id = :'run_id'),
  'step ''approval'' failed after 1 attempt(s): no signal within the timeout of 600 s',
  'its error names the step and the timeout'
);

-- a late signal, before any poll
select run_id as late_id from pgflow.start_run('late', '{}') \gset
select pgflow_tests.complete(:'late_id', 'order', '1');
select pgflow_tests.set_now('2030-01-01 01:20:01+00');
select is(pgflow.signal(:'late_id', 'approval', '"too late"'), false, 'a signal after the deadline returns false');
select results_eq(
  format(
    $$select status, signalled_at from pgflow.step_states where run_id = %L and step_slug = 'approval'$$, :'late_id'
  ),
  $$values ('failed'::text, null::timestamptz)$$,
  'the step failed, and the late signal was not kept'
);

select finish();
rollback;
