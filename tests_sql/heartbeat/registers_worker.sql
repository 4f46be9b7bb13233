-- heartbeat() registers a worker row: worker_id, flow_slugs (null by default), started_at and
-- last_heartbeat_at = now, not stopped.
begin;
select plan(2);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.heartbeat('hb_register_w1', array['flow_a', 'flow_b']);
select pgflow.heartbeat('hb_register_w2');

select results_eq(
  $$select worker_id, flow_slugs, started_at, last_heartbeat_at, stopped_at
    from pgflow.workers where worker_id = 'hb_register_w1'$$,
  $$values (
    'hb_register_w1'::text, array['flow_a', 'flow_b']::text [], '2030-01-01 12:00:00+00'::timestamptz,
    '2030-01-01 12:00:00+00'::timestamptz, null::timestamptz
  )$$,
  'a worker row with its flows, started and heartbeating now'
);
select results_eq(
  $$select worker_id, flow_slugs, started_at, last_heartbeat_at, stopped_at
    from pgflow.workers where worker_id = 'hb_register_w2'$$,
  $$values (
    'hb_register_w2'::text, null::text [], '2030-01-01 12:00:00+00'::timestamptz,
    '2030-01-01 12:00:00+00'::timestamptz, null::timestamptz
  )$$,
  'without flow_slugs the row has none'
);

select finish();
rollback;
