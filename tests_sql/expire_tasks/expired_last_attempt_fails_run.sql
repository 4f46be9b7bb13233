-- When expire_tasks() expires the last allowed attempt, the task is exhausted: the step and the run fail, the
-- run error naming the step and saying it timed out.
begin;
select plan(5);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('expire_last', '[{"slug": "slow", "timeout": 5, "max_attempts": 1}]');
select run_id from pgflow.start_run('expire_last') \gset
select is((select attempt from pgflow_tests.poll('expire_last')), 1, 'the only attempt starts');

select pgflow_tests.set_now('2030-01-01 12:00:06+00');
select is(pgflow.expire_tasks(), 1, 'expire_tasks expires it');
select is(pgflow_tests.step_status(:'run_id', 'slow'), 'failed', 'the step failed');
select is(pgflow_tests.run_status(:'run_id'), 'failed', 'the run failed');
select alike(
  (select error from pgflow.runs where run_id = :'run_id'), '%slow%timed out%',
  'the run error names the step and says it timed out'
);

select finish();
rollback;
