-- Whether a worker is stale is judged by the timeout it registered with heartbeat(), never by the polling
-- session's pgflow.worker_timeout: a poller that sets it to '1 s' (or '-1 s') cannot take another worker's
-- tasks early. The setting is validated where it is read: heartbeat() and worker_timeout() raise PF005 for
-- garbage and for values outside 1 second .. 1 hour.
begin;
select plan(8);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select set_config('pgflow.worker_timeout', '30 s', true);
select pgflow.define_flow('own_timeout', '[{"slug": "a"}]');
select run_id from pgflow.start_run('own_timeout') \gset
select pgflow.heartbeat('slow');
select count(*) from pgflow.poll_for_tasks('slow', array['own_timeout']);
select is(
  (select worker_timeout from pgflow.workers where worker_id = 'slow'), interval '30 seconds',
  'heartbeat registers the session''s timeout'
);

select pgflow_tests.set_now('2030-01-01 12:00:10+00');
select set_config('pgflow.worker_timeout', '1 s', true);
select count(*) from pgflow.poll_for_tasks('greedy', array['own_timeout']);
select is(pgflow_tests.task_status(:'run_id', 'a'), 'started', 'a poller''s own setting does not expire it');
select is((select attempt from pgflow.step_tasks where run_id = :'run_id'), 1, 'still the first attempt');

select set_config('pgflow.worker_timeout', '-1 s', true);
select lives_ok(
  $$select count(*) from pgflow.poll_for_tasks('greedy', array['own_timeout'])$$,
  'polls never read the setting, even when it is out of range'
);
select throws_ok($$select pgflow.heartbeat('w2')$$, 'PF005', null, 'heartbeat refuses a negative timeout');
select set_config('pgflow.worker_timeout', 'garbage', true);
select throws_like(
  $$select pgflow.worker_timeout()$$,
  'the setting pgflow.worker_timeout must be an interval from 1 second to 1 hour, got ''garbage''',
  'worker_timeout() names the setting and the value'
);
select set_config('pgflow.worker_timeout', '2 hours', true);
select throws_ok($$select pgflow.heartbeat('w2')$$, 'PF005', null, 'more than an hour is refused');
select is((select count(*)::int from pgflow.workers where worker_id = 'w2'), 0, 'nothing was written');

select finish();
rollback;
