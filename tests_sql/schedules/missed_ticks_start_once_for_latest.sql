-- Ticks missed while nothing polled start one run, for the latest of them; the next tick is after now.
begin;
select plan(3);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select pgflow.define_flow('sched_missed', '[{"slug": "a"}]');
select pgflow.create_schedule('minutely', 'sched_missed', '* * * * *');

-- a month later
select pgflow_tests.set_now('2030-02-01 12:34:56+00');
select pgflow_tests.poll('sched_missed');
select pgflow_tests.poll('sched_missed');

select results_eq(
  $$select schedule_tick, idempotency_key from pgflow.runs where flow_slug = 'sched_missed'$$,
  $$values ('2030-02-01 12:34+00'::timestamptz, 'schedule:minutely:2030-02-01T12:34:00Z')$$,
  'one run, for the latest missed tick'
);
select is(
  (select next_tick from pgflow.schedules), '2030-02-01 12:35+00'::timestamptz, 'the next tick is the next minute'
);

select pgflow_tests.set_now('2030-02-01 12:35:00+00');
select pgflow_tests.poll('sched_missed');
select is(
  (select pg_catalog.count(*)::int from pgflow.runs where flow_slug = 'sched_missed'), 2,
  'the next minute starts the next run'
);

select finish();
rollback;
