-- Vixie cron's day rule: both day fields restricted -> a day matches when either does; otherwise both must
-- (a field starting with * counts as unrestricted, */n too).
begin;
select plan(4);

-- 2030-01-01 is a Tuesday
select is(
  pgflow.next_cron_tick('0 0 15 * mon', '2030-01-01 00:00+00'), '2030-01-07 00:00+00'::timestamptz,
  'day 15 or Monday: the first Monday (the 7th) comes before the 15th'
);
select is(
  pgflow.next_cron_tick('0 0 15 * mon', '2030-01-14 00:00+00'), '2030-01-15 00:00+00'::timestamptz,
  'day 15 or Monday: the 15th (a Tuesday) matches by its day of month'
);
select is(
  pgflow.next_cron_tick('0 0 */2 * mon', '2030-01-01 00:00+00'), '2030-01-07 00:00+00'::timestamptz,
  'odd days and Monday (*/2 is unrestricted): both must match, the 7th is the first odd Monday'
);
select is(
  pgflow.next_cron_tick('0 0 1-7 * */2', '2030-01-01 00:00+00'), '2030-01-03 00:00+00'::timestamptz,
  'days 1-7 and */2 days of week (unrestricted): both must match, Thursday the 3rd, not Wednesday the 2nd'
);

select finish();
rollback;
