-- A worker that stops while holding started tasks gives them up: each counts as a failed attempt that
-- timed out (naming the worker) and is queued for a retry.
begin;
select plan(4);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow_tests.define_diamond('stop_held');
select run_id from pgflow.start_run('stop_held', '{}') \gset
select pgflow.heartbeat('stopper');
select count(*) from pgflow.poll_for_tasks('stopper', array['stop_held']);

select pgflow.stop_worker('stopper');
select is(pgflow_tests.task_status(:'run_id', 'a'), 'queued', 'the held task is queued again');
select matches(
  (select error from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'a'),
  'timed out: worker .stopper. stopped without reporting it',
  'its error says the worker stopped without reporting it'
);
select is(
  (select worker_id from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'a'), null,
  'it is no longer held'
);
select pgflow_tests.advance(interval '1 second');
select is(
  (select attempt from pgflow.poll_for_tasks('other', array['stop_held'])), 2,
  'another worker claims it as attempt 2 after the retry delay'
);

select finish();
rollback;
