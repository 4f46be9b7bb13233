-- create_schedule refuses, writing nothing: PF004 an unknown flow; PF001 a bad slug, cron, a cron that never
-- ticks, a bad time zone; PF005 a null input or one the flow's root map step cannot take.
begin;
select plan(10);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select pgflow.define_flow('sched_errors', '[{"slug": "a"}]');
select pgflow.define_flow('sched_errors_map', '[{"slug": "each", "type": "map"}]');

select throws_ok(
  $$select pgflow.create_schedule('s1', 'no_such_flow', '* * * * *')$$, 'PF004',
  'create_schedule: flow ''no_such_flow'' does not exist; define it first with define_flow',
  'an unknown flow'
);
select throws_ok(
  $$select pgflow.create_schedule('bad-slug', 'sched_errors', '* * * * *')$$, 'PF001',
  'create_schedule: schedule_slug ''bad-slug'' is not a valid slug: use 1 to 128 letters, digits and underscores, '
  'not starting with a digit',
  'a bad schedule slug'
);
select throws_ok(
  $$select pgflow.create_schedule(null, 'sched_errors', '* * * * *')$$, 'PF001', null, 'a null schedule slug'
);
select throws_ok(
  $$select pgflow.create_schedule('s1', 'sched_errors', '61 * * * *')$$, 'PF001',
  'create_schedule: cron field minute: 61 is out of range 0-59, got "61 * * * *"',
  'a bad cron, named by create_schedule'
);
select throws_ok(
  $$select pgflow.create_schedule('s1', 'sched_errors', '0 0 30 2 *')$$, 'PF001',
  'create_schedule: cron never ticks (none within 8 years), got "0 0 30 2 *"',
  'a cron that never ticks'
);
select throws_ok(
  $$select pgflow.create_schedule('s1', 'sched_errors', '* * * * *', '{}', 'Nowhere/Land')$$, 'PF001',
  'create_schedule: timezone ''Nowhere/Land'' is not a time zone name PostgreSQL knows (see pg_timezone_names)',
  'an unknown time zone'
);
select throws_ok(
  $$select pgflow.create_schedule('s1', 'sched_errors', null)$$, 'PF001', null, 'a null cron'
);
select throws_ok(
  $$select pgflow.create_schedule('s1', 'sched_errors', '* * * * *', null)$$, 'PF005',
  'create_schedule: input must not be null',
  'a null input'
);
select throws_ok(
  $$select pgflow.create_schedule('s1', 'sched_errors_map', '* * * * *', '{"a": 1}')$$, 'PF005',
  'create_schedule: flow ''sched_errors_map'' starts with map step ''each'', so input must be a JSON array, got object',
  'an object for a flow that maps over its input'
);
select is((select pg_catalog.count(*)::int from pgflow.schedules), 0, 'nothing was written');

select finish();
rollback;
