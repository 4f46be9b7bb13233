-- When the attempt that times out was the last one, the expiry done by a poll exhausts the task: the task and
-- the step fail and the run fails with an error naming the step and saying it timed out.
begin;
select plan(5);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('expire_exhausts', '[{"slug": "slow", "timeout": 5, "max_attempts": 1}]');
select run_id from pgflow.start_run('expire_exhausts') \gset
select is((select attempt from pgflow_tests.poll('expire_exhausts')), 1, 'the only attempt starts');

select pgflow_tests.set_now('2030-01-01 12:00:06+00');
select is_empty($$select * from pgflow_tests.poll('expire_exhausts')$$, 'the next poll claims nothing');
select is(pgflow_tests.task_status(:'run_id', 'slow'), 'failed', 'the task failed');
select is(pgflow_tests.run_status(:'run_id'), 'failed', 'the run failed');
select alike(
  (select error from pgflow.runs where run_id = :'run_id'), '%slow%timed out%',
  'the run error names the step and says it timed out'
);

select finish();
rollback;
