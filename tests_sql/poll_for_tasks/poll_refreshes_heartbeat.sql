-- A poll is a sign of life: a registered worker's poll refreshes its heartbeat (at most once a second)
-- and clears stopped_at, so a worker that keeps polling is never taken for a silent one.
begin;
select plan(5);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.heartbeat('poller_w1');

select pgflow_tests.advance(interval '0.5 seconds');
select is_empty($$select * from pgflow.poll_for_tasks('poller_w1', array['no_such_flow'])$$, 'nothing to claim');
select is(
  (select last_heartbeat_at from pgflow.workers where worker_id = 'poller_w1'), '2030-01-01 12:00:00+00'::timestamptz,
  'a poll within a second of the last heartbeat writes nothing'
);

select pgflow_tests.advance(interval '20 seconds');
select is_empty($$select * from pgflow.poll_for_tasks('poller_w1', array['no_such_flow'])$$, 'still nothing to claim');
select is(
  (select last_heartbeat_at from pgflow.workers where worker_id = 'poller_w1'), pgflow.now(),
  'a later poll refreshes the heartbeat'
);

select pgflow.stop_worker('poller_w1');
select pgflow.poll_for_tasks('poller_w1', array['no_such_flow']);
select is(
  (select stopped_at from pgflow.workers where worker_id = 'poller_w1'), null,
  'a worker that polls again is no longer stopped'
);

select finish();
rollback;
