-- A run started by a schedule records its schedule and tick, has the key schedule:<slug>:<tick in UTC ISO 8601>,
-- and the schedule records its last tick and run.
begin;
select plan(3);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select pgflow.define_flow('sched_record', '[{"slug": "a"}]');
select pgflow.create_schedule('nightly', 'sched_record', '0 1 * * *', '{}', 'Europe/Berlin');

select pgflow_tests.set_now('2030-01-02 00:00:10+00');
select pgflow.expire_tasks();

select results_eq(
  $$select schedule_slug, schedule_tick, idempotency_key, status from pgflow.runs where flow_slug = 'sched_record'$$,
  $$values ('nightly', '2030-01-02 00:00+00'::timestamptz, 'schedule:nightly:2030-01-02T00:00:00Z', 'started')$$,
  'expire_tasks started the 01:00 Berlin tick (00:00 UTC) with its key'
);
select results_eq(
  $$select s.last_tick, s.last_run_id, s.last_error, s.next_tick from pgflow.schedules as s$$,
  $$select '2030-01-02 00:00+00'::timestamptz, r.run_id, null::text, '2030-01-03 00:00+00'::timestamptz
    from pgflow.runs as r where r.flow_slug = 'sched_record'$$,
  'the schedule records the tick, its run, no error, and the next tick'
);
select is(
  (select r.run_id from pgflow.find_run('sched_record', 'schedule:nightly:2030-01-02T00:00:00Z') as r),
  (select s.last_run_id from pgflow.schedules as s),
  'find_run finds the tick''s run by its key'
);

select finish();
rollback;
