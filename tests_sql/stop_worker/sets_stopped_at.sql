-- stop_worker() marks a worker stopped: stopped_at = now; the other columns of its row are unchanged.
begin;
select plan(2);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.heartbeat('stop_w1', array['flow_a']);
select is(
  (select stopped_at from pgflow.workers where worker_id = 'stop_w1'), null, 'a heartbeating worker is not stopped'
);

select pgflow_tests.set_now('2030-01-01 12:00:03+00');
select pgflow.stop_worker('stop_w1');
select results_eq(
  $$select flow_slugs, started_at, last_heartbeat_at, stopped_at from pgflow.workers where worker_id = 'stop_w1'$$,
  $$values (
    array['flow_a']::text [], '2030-01-01 12:00:00+00'::timestamptz, '2030-01-01 12:00:00+00'::timestamptz,
    '2030-01-01 12:00:03+00'::timestamptz
  )$$,
  'stopped_at is now; the rest of the row is unchanged'
);

select finish();
rollback;
