-- complete_tasks: a report of an attempt past its deadline counts as not recorded (false; its attempt is
-- expired as by an expiry pass) and the other reports of the batch are recorded.
begin;
select plan(5);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('late_batch', '[{"slug": "only", "timeout": 10, "max_attempts": 1}]');
select run_id as late from pgflow.start_run('late_batch') \gset
select count(*) from pgflow_tests.poll('late_batch');
select pgflow_tests.set_now('2030-01-01 12:00:08+00');
select run_id as on_time from pgflow.start_run('late_batch') \gset
select count(*) from pgflow_tests.poll('late_batch');

select pgflow_tests.set_now('2030-01-01 12:00:12+00');
select is(
  pgflow.complete_tasks(
    array[:'on_time', :'late', :'on_time']::uuid[], array['only', 'only', 'nope'], array[0, 0, 0],
    array['"a"', '"b"', '"c"']::jsonb[], array[1, 1, 1]
  ),
  array[true, false, null],
  'the report on time is recorded, the late one is not, the unknown task is null'
);
select is(pgflow_tests.run_status(:'on_time'), 'completed', 'the run reported on time completes');
select is(pgflow_tests.task_status(:'late', 'only'), 'failed', 'the late attempt (the only one allowed) failed');
select is(pgflow_tests.run_status(:'late'), 'failed', 'and its run failed');
select alike(
  (select error from pgflow.step_tasks where run_id = :'late'), 'attempt 1 timed out: no result by its deadline %',
  'with the expiry''s error'
);

select finish();
rollback;
