-- Declaring a schedule again unchanged returns it as it is (next tick kept); a change updates it and recomputes
-- its next tick from now.
begin;
select plan(5);

select pgflow_tests.set_now('2030-01-01 10:07:00+00');
select pgflow.define_flow('sched_upsert', '[{"slug": "a"}]');
select pgflow.create_schedule('hourly_upsert', 'sched_upsert', '0 * * * *', '{"n": 1}');

select pgflow_tests.set_now('2030-01-01 11:30:00+00');
select results_eq(
  $$select next_tick, updated_at
    from pgflow.create_schedule('hourly_upsert', 'sched_upsert', '0 * * * *', '{"n": 1}')$$,
  $$values ('2030-01-01 11:00+00'::timestamptz, '2030-01-01 10:07+00'::timestamptz)$$,
  'unchanged: the due next tick and updated_at are kept'
);
select is(
  (select pg_catalog.count(*)::int from pgflow.schedules where schedule_slug = 'hourly_upsert'), 1, 'one row'
);

select results_eq(
  $$select next_tick, updated_at, input
    from pgflow.create_schedule('hourly_upsert', 'sched_upsert', '0 * * * *', '{"n": 2}')$$,
  $$values ('2030-01-01 12:00+00'::timestamptz, '2030-01-01 11:30+00'::timestamptz, '{"n": 2}'::jsonb)$$,
  'a new input updates the row; its next tick is computed from now'
);
select results_eq(
  $$select next_tick, cron from pgflow.create_schedule('hourly_upsert', 'sched_upsert', '0 9 * * *', '{"n": 2}')$$,
  $$values ('2030-01-02 09:00+00'::timestamptz, '0 9 * * *')$$,
  'a new cron too'
);
select results_eq(
  $$select next_tick, timezone
    from pgflow.create_schedule('hourly_upsert', 'sched_upsert', '0 9 * * *', '{"n": 2}', 'America/New_York')$$,
  $$values ('2030-01-01 14:00+00'::timestamptz, 'America/New_York')$$,
  'a new time zone too'
);

select finish();
rollback;
