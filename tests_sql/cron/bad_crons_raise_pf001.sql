-- Each kind of bad cron raises PF001 with a sentence naming the function, the field at fault and the cron.
begin;
select plan(13);

select throws_ok(
  $$select pgflow.next_cron_tick('* * * *', '2030-01-01 00:00+00')$$, 'PF001',
  'next_cron_tick: cron has 4 fields, five are needed (minute hour day-of-month month day-of-week), got "* * * *"',
  'four fields'
);
select throws_ok(
  $$select pgflow.next_cron_tick('* * * * * *', '2030-01-01 00:00+00')$$, 'PF001',
  'next_cron_tick: cron has 6 fields, five are needed (minute hour day-of-month month day-of-week), got "* * * * * *"',
  'six fields'
);
select throws_ok(
  $$select pgflow.next_cron_tick('0 24 * * *', '2030-01-01 00:00+00')$$, 'PF001',
  'next_cron_tick: cron field hour: 24 is out of range 0-23, got "0 24 * * *"',
  'an hour out of range'
);
select throws_ok(
  $$select pgflow.next_cron_tick('0 0 0 * *', '2030-01-01 00:00+00')$$, 'PF001',
  'next_cron_tick: cron field day-of-month: 0 is out of range 1-31, got "0 0 0 * *"',
  'day of month 0'
);
select throws_ok(
  $$select pgflow.next_cron_tick('0 0 * * 8', '2030-01-01 00:00+00')$$, 'PF001',
  'next_cron_tick: cron field day-of-week: 8 is out of range 0-7, got "0 0 * * 8"',
  'day of week 8'
);
select throws_ok(
  $$select pgflow.next_cron_tick('*/0 * * * *', '2030-01-01 00:00+00')$$, 'PF001',
  'next_cron_tick: cron field minute: the step of "*/0" must be a number from 1 to 60, got "*/0 * * * *"',
  'a step of 0'
);
select throws_ok(
  $$select pgflow.next_cron_tick('0 0 * 5-2 *', '2030-01-01 00:00+00')$$, 'PF001',
  'next_cron_tick: cron field month: the range "5-2" goes backwards (5 is after 2), got "0 0 * 5-2 *"',
  'a range a-b with a > b'
);
select throws_ok(
  $$select pgflow.next_cron_tick('0 0 * foo *', '2030-01-01 00:00+00')$$, 'PF001',
  'next_cron_tick: cron field month: "foo" is not a number from 1 to 12 or a name jan..dec, got "0 0 * foo *"',
  'an unknown month name'
);
select throws_ok(
  $$select pgflow.next_cron_tick('0 0 * * mon-fry', '2030-01-01 00:00+00')$$, 'PF001',
  'next_cron_tick: cron field day-of-week: "fry" is not a number from 0 to 7 or a name sun..sat, got "0 0 * * mon-fry"',
  'an unknown day name in a range'
);
select throws_ok(
  $$select pgflow.next_cron_tick('mon * * * *', '2030-01-01 00:00+00')$$, 'PF001',
  'next_cron_tick: cron field minute: "mon" is not a number from 0 to 59, got "mon * * * *"',
  'a name where names are not allowed'
);
select throws_ok(
  $$select pgflow.next_cron_tick('1,,2 * * * *', '2030-01-01 00:00+00')$$, 'PF001',
  'next_cron_tick: cron field minute: "1,,2" has an empty list item, got "1,,2 * * * *"',
  'an empty list item'
);
select throws_ok(
  $$select pgflow.next_cron_tick('  ', '2030-01-01 00:00+00')$$, 'PF001',
  'next_cron_tick: cron must be five fields (minute hour day-of-month month day-of-week) or a macro such as @daily, '
  'got "  "',
  'an empty cron'
);
select throws_ok(
  $$select pgflow.next_cron_tick('@reboot', '2030-01-01 00:00+00')$$, 'PF001',
  'next_cron_tick: cron macro is unknown: use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly, '
  'got "@reboot"',
  'an unknown macro'
);

select finish();
rollback;
