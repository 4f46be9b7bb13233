-- prune_runs deletes finished scheduled runs; the schedule stays (it names its last run by id only) and keeps
-- starting runs.
begin;
select plan(4);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select pgflow.define_flow('sched_prune', '[{"slug": "a"}]');
select pgflow.create_schedule('prunable', 'sched_prune', '0 * * * *');
select pgflow_tests.set_now('2030-01-01 01:00:00+00');
select pgflow.expire_tasks();
select pgflow_tests.complete(r.run_id, 'a', '1') from pgflow.runs as r where r.flow_slug = 'sched_prune';

select pgflow_tests.set_now('2030-01-10 00:00:30+00');
select is(pgflow.prune_runs('1 day'), 1, 'the finished scheduled run is pruned');
select is((select pg_catalog.count(*)::int from pgflow.schedules), 1, 'the schedule stays');

select pgflow.expire_tasks();
select is(
  (select schedule_tick from pgflow.runs where flow_slug = 'sched_prune'), '2030-01-10 00:00+00'::timestamptz,
  'the next housekeeping starts the latest missed tick'
);
select is(
  (select last_run_id from pgflow.schedules), (select run_id from pgflow.runs where flow_slug = 'sched_prune'),
  'and records it'
);

select finish();
rollback;
