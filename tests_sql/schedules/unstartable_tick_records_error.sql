-- A tick whose run cannot start (the flow now maps over its input, the schedule's input is an object) records
-- last_error, moves on to the next tick, and the poll goes on claiming other work.
begin;
select plan(5);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select pgflow.define_flow('sched_broken', '[{"slug": "a"}]');
select pgflow.create_schedule('broken', 'sched_broken', '0 * * * *', '{"not": "an array"}');
select pgflow.define_flow('sched_broken', '[{"slug": "each", "type": "map"}]');
select pgflow.define_flow('sched_other', '[{"slug": "work"}]');
select pgflow.start_run('sched_other', '{}');

select pgflow_tests.set_now('2030-01-01 01:00:00+00');
select results_eq(
  $$select flow_slug, step_slug from pgflow.poll_for_tasks('w', null, 10)$$,
  $$values ('sched_other', 'work')$$,
  'the poll claims the other flow''s task'
);
select is((select pg_catalog.count(*)::int from pgflow.runs where flow_slug = 'sched_broken'), 0, 'no run started');
select matches(
  (select last_error from pgflow.schedules),
  '^tick 2030-01-01T01:00:00Z could not start a run \(PF005\): flow ''sched_broken'' starts with map step ''each''',
  'last_error names the tick, the SQLSTATE and the reason'
);
select results_eq(
  $$select next_tick, last_tick from pgflow.schedules$$,
  $$values ('2030-01-01 02:00+00'::timestamptz, null::timestamptz)$$,
  'the next tick moved on; no tick started a run'
);

select pgflow.create_schedule('broken', 'sched_broken', '0 * * * *', '[1, 2]');
select pgflow_tests.set_now('2030-01-01 02:00:00+00');
select pgflow_tests.poll('sched_broken');
select results_eq(
  $$select last_error, last_tick from pgflow.schedules$$,
  $$values (null::text, '2030-01-01 02:00+00'::timestamptz)$$,
  'fixed, the next tick starts and clears the error'
);

select finish();
rollback;
