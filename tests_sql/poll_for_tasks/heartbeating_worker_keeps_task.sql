-- A worker that keeps sending heartbeats keeps its started task while its deadline is ahead, however long the
-- attempt runs past pgflow.worker_timeout.
begin;
select plan(4);

-- the same as: set local pgflow.worker_timeout = '10 s' (which sqlfluff cannot parse)
select set_config('pgflow.worker_timeout', '10 s', true);
select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('busy_worker', '[{"slug": "job", "timeout": 60}]');
select run_id from pgflow.start_run('busy_worker') \gset

select pgflow.heartbeat('busy_w1');
select is((select attempt from pgflow.poll_for_tasks('busy_w1', array['busy_worker'])), 1, 'w1 claims attempt 1');

select pgflow_tests.set_now('2030-01-01 12:00:08+00');
select pgflow.heartbeat('busy_w1');
select pgflow_tests.set_now('2030-01-01 12:00:16+00');
select pgflow.heartbeat('busy_w1');
select pgflow_tests.set_now('2030-01-01 12:00:24+00');
select is_empty(
  $$select * from pgflow.poll_for_tasks('busy_w2', array['busy_worker'])$$, 'w2 gets nothing 24 s later'
);
select results_eq(
  format($$select status, attempt, worker_id from pgflow.step_tasks where run_id = %L$$, :'run_id'),
  $$values ('started', 1, 'busy_w1')$$,
  'the task is still attempt 1, started, held by w1'
);
select is(pgflow.expire_tasks(), 0, 'expire_tasks finds nothing to expire either');

select finish();
rollback;
