-- _cron_parse reads numbers, ranges a-b, lists a,b, steps */n, a-b/n and a/n (a to the field's maximum).
begin;
select plan(8);

select is(
  pgflow._cron_parse('5 4 3 2 1'),
  '{"minutes": [5], "hours": [4], "days": [3], "months": [2], "weekdays": [1],
    "days_restricted": true, "weekdays_restricted": true}'::jsonb,
  'plain numbers, one per field'
);
select is(
  pgflow._cron_parse('* * * * *') -> 'minutes',
  pg_catalog.to_jsonb(array(select pg_catalog.generate_series(0, 59))),
  '* is every minute 0-59'
);
select is(pgflow._cron_parse('10-14 * * * *') -> 'minutes', '[10, 11, 12, 13, 14]', 'a range a-b');
select is(pgflow._cron_parse('1,5,3,5 * * * *') -> 'minutes', '[1, 3, 5]', 'a list, sorted, without repeats');
select is(pgflow._cron_parse('*/15 * * * *') -> 'minutes', '[0, 15, 30, 45]', 'a step */n');
select is(pgflow._cron_parse('0 8-18/4 * * *') -> 'hours', '[8, 12, 16]', 'a stepped range a-b/n');
select is(pgflow._cron_parse('0 0 20/5 * *') -> 'days', '[20, 25, 30]', 'a/n runs from a to the field''s maximum');
select is(
  pgflow._cron_parse('0,30 9-11,13 * * *') -> 'hours', '[9, 10, 11, 13]', 'lists of ranges and numbers'
);

select finish();
rollback;
