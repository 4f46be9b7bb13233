-- get_run_status: a started wait step is "waiting", with waiting_since (when it became ready) and its deadline
-- (null without a timeout); every wait step shows signalled_at. Other steps have none of these keys.
begin;
select plan(6);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select pgflow.define_flow(
  'shown',
  '[{"slug": "first"}, {"slug": "approval", "type": "wait", "depends_on": ["first"], "timeout": 30},
    {"slug": "forever", "type": "wait"}]'
);
select run_id from pgflow.start_run('shown', '{}') \gset
select pgflow_tests.set_now('2030-01-01 00:00:10+00');
select pgflow_tests.complete(:'run_id', 'first', '1');

select is(
  pgflow_tests.step_entry(:'run_id', 'approval') - array['started_at', 'finished_at', 'depends_on', 'error'],
  '{"step_slug": "approval", "step_type": "wait", "status": "waiting", "total_tasks": 1, "completed_tasks": 0,
    "attempts": 1, "waiting_since": "2030-01-01T00:00:10+00:00", "deadline": "2030-01-01T00:00:40+00:00",
    "signalled_at": null}'::jsonb,
  'a waiting step: status waiting, since when, until when'
);
select is(
  pgflow_tests.step_entry(:'run_id', 'forever') -> 'deadline',
  'null'::jsonb,
  'a wait without a timeout has a null deadline'
);
select is(
  pgflow_tests.step_entry(:'run_id', 'first') ?| array['waiting_since', 'deadline', 'signalled_at'],
  false,
  'a single step has none of the wait keys'
);

select pgflow_tests.set_now('2030-01-01 00:00:20+00');
select pgflow.signal(:'run_id', 'approval', '1');
select is(
  pgflow_tests.step_entry(:'run_id', 'approval') - array['started_at', 'finished_at', 'depends_on', 'error'],
  '{"step_slug": "approval", "step_type": "wait", "status": "completed", "total_tasks": 1, "completed_tasks": 1,
    "attempts": 1, "waiting_since": null, "deadline": null, "signalled_at": "2030-01-01T00:00:20+00:00"}'::jsonb,
  'a signalled step: completed, with signalled_at'
);
select is(
  (pgflow.get_run_status(:'run_id') ->> 'completed_steps')::int, 2, 'the completed wait step counts as completed'
);
select is(
  pgflow_tests.step_entry(:'run_id', 'forever') ->> 'status',
  'waiting',
  'the other wait step still waits'
);

select finish();
rollback;
