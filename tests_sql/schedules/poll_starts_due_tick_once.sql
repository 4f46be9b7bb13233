-- A poll at or after a schedule's tick starts one run for it; another poll at the same time starts nothing more.
begin;
select plan(6);

select pgflow_tests.set_now('2030-01-01 00:00:30+00');
select pgflow.define_flow('sched_once', '[{"slug": "a"}]');
select pgflow.create_schedule('every_five', 'sched_once', '*/5 * * * *', '{"k": "v"}');

select pgflow_tests.set_now('2030-01-01 00:04:59+00');
select is_empty($$select * from pgflow_tests.poll('sched_once')$$, 'before the tick a poll starts nothing');
select is((select pg_catalog.count(*)::int from pgflow.runs where flow_slug = 'sched_once'), 0, 'no run');

select pgflow_tests.set_now('2030-01-01 00:05:00+00');
select results_eq(
  $$select step_slug, input from pgflow_tests.poll('sched_once')$$,
  $$values ('a', '{"k": "v"}'::jsonb)$$,
  'at the tick the poll starts the run and claims its task, with the schedule''s input'
);
select is_empty($$select * from pgflow.poll_for_tasks('other-worker', null, 10)$$, 'a second poll finds nothing');
select is((select pg_catalog.count(*)::int from pgflow.runs where flow_slug = 'sched_once'), 1, 'one run');
select is(
  (select next_tick from pgflow.schedules where schedule_slug = 'every_five'), '2030-01-01 00:10+00'::timestamptz,
  'the next tick moved on'
);

select finish();
rollback;
