-- drop_schedule removes a schedule (true), false when there was none; the runs it started stay.
begin;
select plan(5);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select pgflow.define_flow('sched_drop', '[{"slug": "a"}]');
select pgflow.create_schedule('to_drop', 'sched_drop', '0 * * * *');
select pgflow_tests.set_now('2030-01-01 01:00:00+00');
select pgflow.expire_tasks();

select ok(pgflow.drop_schedule('to_drop'), 'an existing schedule: true');
select ok(not pgflow.drop_schedule('to_drop'), 'dropped already: false');
select is((select pg_catalog.count(*)::int from pgflow.runs where schedule_slug = 'to_drop'), 1, 'its run stays');

select pgflow_tests.set_now('2030-01-01 02:00:00+00');
select pgflow.expire_tasks();
select is(
  (select pg_catalog.count(*)::int from pgflow.runs where flow_slug = 'sched_drop'), 1, 'no more runs start'
);
select throws_ok($$select pgflow.drop_schedule('not a slug')$$, 'PF001', null, 'a bad slug: PF001');

select finish();
rollback;
