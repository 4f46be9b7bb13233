-- The next tick is strictly after "after"; February 29 is found years ahead; a cron that never ticks gives null.
begin;
select plan(6);

select is(
  pgflow.next_cron_tick('*/15 * * * *', '2030-01-01 10:15:00+00'), '2030-01-01 10:30+00'::timestamptz,
  'a tick equal to "after" is not returned'
);
select is(
  pgflow.next_cron_tick('*/15 * * * *', '2030-01-01 10:14:59.9+00'), '2030-01-01 10:15+00'::timestamptz,
  'a fraction of a second before a tick returns it'
);
select is(
  pgflow.next_cron_tick('59 23 31 12 *', '2030-12-31 23:59+00'), '2031-12-31 23:59+00'::timestamptz,
  'the last minute of the year, once a year'
);
select is(
  pgflow.next_cron_tick('0 0 29 2 *', '2097-03-01 00:00+00'), '2104-02-29 00:00+00'::timestamptz,
  'February 29 across 2100 (not a leap year): seven years ahead'
);
select is(pgflow.next_cron_tick('0 0 30 2 *', '2030-01-01 00:00+00'), null, 'February 30 never ticks: null');
select is(pgflow.next_cron_tick('0 0 31 4,6,9,11 *', '2030-01-01 00:00+00'), null, 'the 31st of 30-day months: null');

select finish();
rollback;
