-- A later heartbeat of the same worker refreshes last_heartbeat_at and keeps started_at: still one row.
begin;
select plan(2);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.heartbeat('hb_refresh_w1', array['flow_a']);
select pgflow_tests.set_now('2030-01-01 12:00:05+00');
select pgflow.heartbeat('hb_refresh_w1', array['flow_a']);

select is(
  (select count(*)::int from pgflow.workers where worker_id = 'hb_refresh_w1'), 1, 'the worker has one row'
);
select results_eq(
  $$select started_at, last_heartbeat_at from pgflow.workers where worker_id = 'hb_refresh_w1'$$,
  $$values ('2030-01-01 12:00:00+00'::timestamptz, '2030-01-01 12:00:05+00'::timestamptz)$$,
  'last_heartbeat_at moves to now, started_at stays'
);

select finish();
rollback;
