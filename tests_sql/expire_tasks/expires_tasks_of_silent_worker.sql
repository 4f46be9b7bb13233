-- expire_tasks() also expires a started task whose worker has sent no heartbeat for pgflow.worker_timeout,
-- while its deadline is still ahead; the error names the worker and the task is queued for a retry.
begin;
select plan(4);

-- the same as: set local pgflow.worker_timeout = '10 s' (which sqlfluff cannot parse)
select set_config('pgflow.worker_timeout', '10 s', true);
select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('expire_silent', '[{"slug": "job", "timeout": 60}]');
select run_id from pgflow.start_run('expire_silent') \gset
select pgflow.heartbeat('expire_silent_w1');
select is(
  (select attempt from pgflow.poll_for_tasks('expire_silent_w1', array['expire_silent'])), 1, 'w1 claims attempt 1'
);

select pgflow_tests.set_now('2030-01-01 12:00:09+00');
select is(pgflow.expire_tasks(), 0, 'nothing expires while the heartbeat is recent enough');

select pgflow_tests.set_now('2030-01-01 12:00:11+00');
select is(pgflow.expire_tasks(), 1, 'past the worker timeout the attempt expires');
select results_eq(
  format($$select status, error like '%%expire_silent_w1%%' from pgflow.step_tasks where run_id = %L$$, :'run_id'),
  $$values ('queued', true)$$,
  'the task is queued for a retry with an error naming the worker'
);

select finish();
rollback;
