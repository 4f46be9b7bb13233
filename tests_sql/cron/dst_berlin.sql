-- Wall-clock ticks in Europe/Berlin: 2030-03-31 02:00-03:00 does not exist; 2030-10-27 02:00-03:00 happens twice.
begin;
select plan(5);

select is(
  pgflow.next_cron_tick('15 2 * * *', '2030-03-30 12:00+00', 'Europe/Berlin'), '2030-04-01 00:15+00'::timestamptz,
  '02:15 is skipped on 2030-03-31; the next is 02:15 CEST on April 1st'
);
select is(
  pgflow.next_cron_tick('0 * * * *', '2030-03-31 00:00+00', 'Europe/Berlin'), '2030-03-31 01:00+00'::timestamptz,
  'hourly after 01:00 CET: 02:00 does not exist, 03:00 CEST is next'
);
select is(
  pgflow.next_cron_tick('15 2 * * *', '2030-10-26 12:00+00', 'Europe/Berlin'), '2030-10-27 00:15+00'::timestamptz,
  '02:15 on 2030-10-27 ticks at its first occurrence, CEST'
);
select is(
  pgflow.next_cron_tick('15 2 * * *', '2030-10-27 00:15+00', 'Europe/Berlin'), '2030-10-28 01:15+00'::timestamptz,
  'not at 02:15 CET again'
);
select is(
  (
    with recursive t (tick) as (
      select pgflow.next_cron_tick('*/30 * * * *', '2030-10-26 21:50+00', 'Europe/Berlin')
      union all
      select pgflow.next_cron_tick('*/30 * * * *', t.tick, 'Europe/Berlin') from t where t.tick < '2030-10-27 02:30+00'
    )

    select pg_catalog.array_agg(pg_catalog.to_char(pg_catalog.timezone('UTC', t.tick), 'HH24:MI') order by t.tick)
    from t
  ),
  array['22:00', '22:30', '23:00', '23:30', '00:00', '00:30', '02:00', '02:30'],
  'half-hourly across the change (UTC shown): 02:00 and 02:30 local tick once (CEST), then 03:00 CET is 02:00 UTC'
);

select finish();
rollback;
