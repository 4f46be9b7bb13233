-- A failed child run fails its parent task's attempt with the child's error; a retry starts a new child at once (the
-- task stays engine-held, attempt 2); once max_attempts is spent, when_exhausted applies (here "skip": the step is
-- skipped and the run goes on).
begin;
select plan(10);

select pgflow.define_flow('sf_c', '[{"slug": "c", "max_attempts": 1}]');
select
  pgflow.define_flow(
    'sf_p', '[{"slug": "sub", "flow": "sf_c", "max_attempts": 2, "when_exhausted": "skip"}, {"slug": "z"}]'
  );
select run_id from pgflow.start_run('sf_p', '{}') \gset
select pgflow_tests.child_run(:'run_id', 'sub') as first \gset

select ok(pgflow_tests.claim_and_fail(:'first', 'c', 'card declined'), 'the first child''s task fails');
select is(pgflow_tests.run_status(:'first'), 'failed', 'the first child fails');
select is(
  (select error from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'sub'),
  format('child run %s of flow ''sf_c'' failed: step ''c'' failed after 1 attempt(s): card declined', :'first'),
  'the parent task records the child''s error'
);
select pgflow_tests.child_run(:'run_id', 'sub') as second \gset
select isnt(:'second'::uuid, :'first'::uuid, 'the retry started a new child run at once');
select is(
  (
    select array[status, attempt::text, coalesce(worker_id, '-')]
    from pgflow.step_tasks
    where run_id = :'run_id' and step_slug = 'sub'
  ),
  array['started', '2', '-'], 'the task is engine-held at attempt 2 (never queued)'
);
select is((select parent_attempt from pgflow.runs where run_id = :'second'), 2, 'the new child is for attempt 2');

select ok(pgflow_tests.claim_and_fail(:'second', 'c', 'still declined'), 'the second child''s task fails');
select is(pgflow_tests.step_status(:'run_id', 'sub'), 'skipped', 'out of attempts, "skip" skips the step');
select is(pgflow_tests.child_count(:'run_id'), 2, 'no third child');
select is(pgflow_tests.task_status(:'run_id', 'z'), 'queued', 'the run goes on without it');

select finish();
rollback;
