-- A started task held by a worker whose last heartbeat is older than pgflow.worker_timeout is expired by the
-- next poll (by another worker) even though its deadline is still ahead: the error names the worker and says
-- it timed out, and the task is retried after the retry delay.
begin;
select plan(8);

-- the same as: set local pgflow.worker_timeout = '10 s' (which sqlfluff cannot parse)
select set_config('pgflow.worker_timeout', '10 s', true);
select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('silent_worker', '[{"slug": "job", "timeout": 60, "max_attempts": 3}]');
select run_id from pgflow.start_run('silent_worker') \gset

select pgflow.heartbeat('silent_w1', array['silent_worker']);
select is(
  (select attempt from pgflow.poll_for_tasks('silent_w1', array['silent_worker'])), 1, 'w1 claims attempt 1'
);

select pgflow_tests.set_now('2030-01-01 12:00:11+00');
select is_empty(
  $$select * from pgflow.poll_for_tasks('silent_w2', array['silent_worker'])$$,
  'w2 polls 11 s later: nothing is due yet'
);
select is((pgflow_tests.task_row(:'run_id', 'job')).status, 'queued', 'the silent worker''s attempt was expired');
select matches((pgflow_tests.task_row(:'run_id', 'job')).error, 'silent_w1', 'the error names the worker');
select matches((pgflow_tests.task_row(:'run_id', 'job')).error, 'timed out', 'the error says the attempt timed out');
select is(
  (pgflow_tests.task_row(:'run_id', 'job')).visible_at, '2030-01-01 12:00:12+00'::timestamptz,
  'the retry is due after the retry delay (1 s)'
);

select pgflow_tests.set_now('2030-01-01 12:00:12+00');
select results_eq(
  $$select attempt from pgflow.poll_for_tasks('silent_w2', array['silent_worker'])$$,
  $$values (2)$$,
  'w2 claims the retry as attempt 2'
);
select is((pgflow_tests.task_row(:'run_id', 'job')).worker_id, 'silent_w2', 'the task is now held by w2');

select finish();
rollback;
