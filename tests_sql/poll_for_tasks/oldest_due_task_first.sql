-- Oldest due first: tasks are claimed in visible_at order, not in insertion order. The run started at
-- 12:00:05 is created before the run started at 12:00:00, yet the 12:00:00 task is claimed first.
begin;
select plan(3);

select pgflow.define_flow('oldest_first', '[{"slug": "s"}]');
select pgflow_tests.set_now('2030-01-01 12:00:05+00');
select run_id as newer_run from pgflow.start_run('oldest_first', '"newer"') \gset
select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select run_id as older_run from pgflow.start_run('oldest_first', '"older"') \gset
select pgflow_tests.set_now('2030-01-01 12:00:03+00');
select run_id as middle_run from pgflow.start_run('oldest_first', '"middle"') \gset

select pgflow_tests.set_now('2030-01-01 12:00:10+00');
select is(
  (select run_id from pgflow.poll_for_tasks('order_worker', array['oldest_first'], 1)), :'older_run'::uuid,
  'the task due at 12:00:00 comes first'
);
select is(
  (select run_id from pgflow.poll_for_tasks('order_worker', array['oldest_first'], 1)), :'middle_run'::uuid,
  'then the task due at 12:00:03'
);
select is(
  (select run_id from pgflow.poll_for_tasks('order_worker', array['oldest_first'], 1)), :'newer_run'::uuid,
  'then the task due at 12:00:05'
);

select finish();
rollback;
