-- max_tasks caps the number of tasks one poll claims (the rest stay queued), and it defaults to 10.
begin;
select plan(6);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('max_tasks_batch', '[{"slug": "items", "type": "map"}]');
select run_id from pgflow.start_run('max_tasks_batch', '[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]') \gset

select is(
  (select count(*)::int from pgflow.poll_for_tasks('batch_worker', array['max_tasks_batch'], 3)), 3,
  'max_tasks 3 claims 3 tasks'
);
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'run_id' and status = 'started'), 3,
  'exactly 3 tasks are started'
);
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'run_id' and status = 'queued'), 11,
  'the other 11 stay queued'
);

select is(
  (select count(*)::int from pgflow.poll_for_tasks('batch_worker', array['max_tasks_batch'])), 10,
  'without max_tasks a poll claims at most 10'
);
select is(
  (select count(*)::int from pgflow.poll_for_tasks('batch_worker', array['max_tasks_batch'], 10)), 1,
  'the next poll claims the last one'
);
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'run_id' and status = 'queued'), 0,
  'nothing is left queued'
);

select finish();
rollback;
