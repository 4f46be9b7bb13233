-- Wall-clock ticks in America/New_York: the hour skipped on 2030-03-10 (02:00-03:00) has no ticks; the hour repeated
-- on 2030-11-03 (01:00-02:00, EDT then EST) ticks once per wall-clock time, at its first occurrence (EDT).
begin;
select plan(7);

select is(
  pgflow.next_cron_tick('0 9 * * *', '2030-01-01 00:00+00', 'America/New_York'), '2030-01-01 14:00+00'::timestamptz,
  '09:00 EST is 14:00 UTC'
);
select is(
  pgflow.next_cron_tick('0 9 * * *', '2030-07-01 00:00+00', 'America/New_York'), '2030-07-01 13:00+00'::timestamptz,
  '09:00 EDT is 13:00 UTC'
);
select is(
  pgflow.next_cron_tick('30 2 * * *', '2030-03-09 12:00+00', 'America/New_York'),
  '2030-03-11 06:30+00'::timestamptz,
  '02:30 does not exist on 2030-03-10: the next tick is 02:30 EDT on the 11th'
);
select is(
  pgflow.next_cron_tick('*/30 * * * *', '2030-03-10 06:30+00', 'America/New_York'),
  '2030-03-10 07:00+00'::timestamptz,
  'after 01:30 EST the next half hour that exists is 03:00 EDT'
);
select is(
  pgflow.next_cron_tick('30 1 * * *', '2030-11-02 12:00+00', 'America/New_York'), '2030-11-03 05:30+00'::timestamptz,
  '01:30 on 2030-11-03 ticks at its first occurrence, 01:30 EDT'
);
select is(
  pgflow.next_cron_tick('30 1 * * *', '2030-11-03 05:30+00', 'America/New_York'), '2030-11-04 06:30+00'::timestamptz,
  'and not again at 01:30 EST: the next tick is the next day'
);
select is(
  pgflow.next_cron_tick('*/20 * * * *', '2030-11-03 05:40+00', 'America/New_York'),
  '2030-11-03 07:00+00'::timestamptz,
  'after 01:40 EDT the times 01:xx repeated in EST are not ticks again: 02:00 EST is next'
);

select finish();
rollback;
