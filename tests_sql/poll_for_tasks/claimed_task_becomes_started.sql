-- A claimed task becomes started by the polling worker: its attempt goes from 0 to 1, worker_id is the poller,
-- started_at is now and deadline = now + the step's timeout (45 s here), both in the table and in the result.
begin;
select plan(9);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('claim_starts', '[{"slug": "only", "timeout": 45}]');
select run_id from pgflow.start_run('claim_starts', '{"x": 1}') \gset

select is((pgflow_tests.task_row(:'run_id', 'only')).status, 'queued', 'the task is queued before the claim');
select is((pgflow_tests.task_row(:'run_id', 'only')).attempt, 0, 'a queued task has made no attempt yet');

select pgflow_tests.set_now('2030-01-01 12:00:05+00');
select
  attempt as claimed_attempt,
  deadline as claimed_deadline
from pgflow.poll_for_tasks('claim_worker', array['claim_starts']) \gset

select is(:claimed_attempt, 1, 'the claim returns attempt 1');
select is(:'claimed_deadline'::timestamptz, '2030-01-01 12:00:50+00'::timestamptz, 'the claim returns now + timeout');

select is((pgflow_tests.task_row(:'run_id', 'only')).status, 'started', 'the claimed task is started');
select is((pgflow_tests.task_row(:'run_id', 'only')).attempt, 1, 'its attempt is 1');
select is((pgflow_tests.task_row(:'run_id', 'only')).worker_id, 'claim_worker', 'it is held by the poller');
select is(
  (pgflow_tests.task_row(:'run_id', 'only')).started_at, '2030-01-01 12:00:05+00'::timestamptz, 'started_at is now'
);
select is(
  (pgflow_tests.task_row(:'run_id', 'only')).deadline, '2030-01-01 12:00:50+00'::timestamptz,
  'deadline is now + timeout'
);

select finish();
rollback;
