-- The macros stand for their five-field crons.
begin;
select plan(7);

select is(pgflow._cron_parse('@yearly'), pgflow._cron_parse('0 0 1 1 *'), '@yearly');
select is(pgflow._cron_parse('@annually'), pgflow._cron_parse('0 0 1 1 *'), '@annually');
select is(pgflow._cron_parse('@monthly'), pgflow._cron_parse('0 0 1 * *'), '@monthly');
select is(pgflow._cron_parse('@weekly'), pgflow._cron_parse('0 0 * * 0'), '@weekly');
select is(pgflow._cron_parse('@DAILY'), pgflow._cron_parse('0 0 * * *'), '@daily, in any case');
select is(pgflow._cron_parse('@midnight'), pgflow._cron_parse('0 0 * * *'), '@midnight');
select is(
  pgflow.next_cron_tick('@hourly', '2030-01-01 10:00+00'), '2030-01-01 11:00+00'::timestamptz,
  '@hourly ticks at the next full hour, strictly after'
);

select finish();
rollback;
