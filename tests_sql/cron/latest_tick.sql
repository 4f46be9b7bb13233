-- _cron_latest finds the latest tick at or before a time without walking every missed minute.
begin;
select plan(5);

select is(
  pgflow._cron_latest(pgflow._cron_parse('* * * * *'), '2030-02-01 10:30:45+00', 'UTC'),
  '2030-02-01 10:30+00'::timestamptz,
  'a minutely cron: the minute of the time itself'
);
select is(
  pgflow._cron_latest(pgflow._cron_parse('*/15 * * * *'), '2030-02-01 10:30:00+00', 'UTC'),
  '2030-02-01 10:30+00'::timestamptz,
  'a tick at the time itself counts (at or before)'
);
select is(
  pgflow._cron_latest(pgflow._cron_parse('0 9 * * mon'), '2030-02-01 10:30+00', 'UTC'),
  '2030-01-28 09:00+00'::timestamptz,
  'a weekly cron: the Monday before'
);
select is(
  pgflow._cron_latest(pgflow._cron_parse('0 0 29 2 *'), '2031-01-01 00:00+00', 'UTC'),
  '2028-02-29 00:00+00'::timestamptz,
  'February 29: the last leap day'
);
select is(
  pgflow._cron_latest(pgflow._cron_parse('45 1 * * *'), '2030-11-03 06:15+00', 'America/New_York'),
  '2030-11-03 05:45+00'::timestamptz,
  'during the repeated hour (01:15 EST), 01:45 already ticked at its first occurrence (EDT)'
);

select finish();
rollback;
