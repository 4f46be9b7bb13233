-- create_schedule stores the schedule with its first tick after now, read in its time zone.
begin;
select plan(4);

select pgflow_tests.set_now('2030-01-01 10:07:00+00');
select pgflow.define_flow('sched_create', '[{"slug": "a"}]');

select is(
  (select s.next_tick from pgflow.create_schedule('every_quarter', 'sched_create', '*/15 * * * *') as s),
  '2030-01-01 10:15+00'::timestamptz,
  'the first tick after now'
);
select results_eq(
  $$select flow_slug, cron, timezone, input, last_tick, last_run_id, last_error, created_at, updated_at
    from pgflow.schedules where schedule_slug = 'every_quarter'$$,
  $$values ('sched_create', '*/15 * * * *', 'UTC', '{}'::jsonb, null::timestamptz, null::uuid, null::text,
            '2030-01-01 10:07+00'::timestamptz, '2030-01-01 10:07+00'::timestamptz)$$,
  'the row holds the defaults (UTC, {}) and no tick yet'
);
select is(
  (
    select s.next_tick
    from pgflow.create_schedule('berlin_nine', 'sched_create', '0 9 * * *', '{"x": 1}', 'Europe/Berlin') as s
  ),
  '2030-01-02 08:00+00'::timestamptz,
  '09:00 in Berlin (CET) is 08:00 UTC, tomorrow'
);
select is(
  (select s.input from pgflow.schedules as s where s.schedule_slug = 'berlin_nine'), '{"x": 1}'::jsonb,
  'the input is stored'
);

select finish();
rollback;
