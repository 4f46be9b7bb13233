-- next_cron_tick: a null cron or time zone, or an unknown time zone, is PF001; a null "after" is PF005.
begin;
select plan(4);

select throws_ok(
  $$select pgflow.next_cron_tick(null, '2030-01-01 00:00+00')$$, 'PF001',
  'next_cron_tick: cron must be five fields (minute hour day-of-month month day-of-week) or a macro such as @daily, '
  'got null',
  'a null cron'
);
select throws_ok(
  $$select pgflow.next_cron_tick('* * * * *', '2030-01-01 00:00+00', 'Mars/Olympus_Mons')$$, 'PF001',
  'next_cron_tick: timezone ''Mars/Olympus_Mons'' is not a time zone name PostgreSQL knows (see pg_timezone_names)',
  'an unknown time zone'
);
select throws_ok(
  $$select pgflow.next_cron_tick('* * * * *', '2030-01-01 00:00+00', null)$$, 'PF001',
  'next_cron_tick: timezone must be a time zone name (see pg_timezone_names), got null',
  'a null time zone'
);
select throws_ok(
  $$select pgflow.next_cron_tick('* * * * *', null)$$, 'PF005',
  'next_cron_tick: after must not be null',
  'a null "after"'
);

select finish();
rollback;
