-- Month names jan..dec and day names sun..sat (any case, also in ranges and steps); day-of-week 7 is Sunday
-- (but * and a/n run to 6).
begin;
select plan(9);

select is(pgflow._cron_parse('0 0 * JAN,mar,Dec *') -> 'months', '[1, 3, 12]', 'month names in any case');
select is(pgflow._cron_parse('0 0 * jun-aug *') -> 'months', '[6, 7, 8]', 'a range of month names');
select is(pgflow._cron_parse('0 0 * * mon-fri') -> 'weekdays', '[1, 2, 3, 4, 5]', 'a range of day names');
select is(pgflow._cron_parse('0 0 * * Sun,SAT') -> 'weekdays', '[0, 6]', 'day names in any case');
select is(pgflow._cron_parse('0 0 * * 7') -> 'weekdays', '[0]', '7 is Sunday');
select is(pgflow._cron_parse('0 0 * * 5-7') -> 'weekdays', '[0, 5, 6]', 'a range ending at 7 includes Sunday');
select is(
  pgflow._cron_parse('0 0 * * 1/2') -> 'weekdays', '[1, 3, 5]',
  'a/n on day of week runs to Saturday (6), as croniter reads it: 7 is only another name of Sunday'
);
select is(pgflow._cron_parse('0 0 * * */3') -> 'weekdays', '[0, 3, 6]', '* on day of week is 0-6');
select is(
  pgflow.next_cron_tick('0 12 * * 7', '2030-01-01 00:00+00'), '2030-01-06 12:00+00'::timestamptz,
  'a cron for day 7 ticks on Sunday 2030-01-06'
);

select finish();
rollback;
