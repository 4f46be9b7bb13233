-- A heartbeat after stop_worker brings the worker back: stopped_at is cleared and last_heartbeat_at is now.
begin;
select plan(2);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.heartbeat('hb_restart_w1');
select pgflow_tests.set_now('2030-01-01 12:00:01+00');
select pgflow.stop_worker('hb_restart_w1');
select isnt((select stopped_at from pgflow.workers where worker_id = 'hb_restart_w1'), null, 'the worker is stopped');

select pgflow_tests.set_now('2030-01-01 12:00:02+00');
select pgflow.heartbeat('hb_restart_w1');
select results_eq(
  $$select stopped_at, last_heartbeat_at from pgflow.workers where worker_id = 'hb_restart_w1'$$,
  $$values (null::timestamptz, '2030-01-01 12:00:02+00'::timestamptz)$$,
  'the next heartbeat clears stopped_at and refreshes last_heartbeat_at'
);

select finish();
rollback;
