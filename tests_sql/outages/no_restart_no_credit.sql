-- Without a server restart nothing is credited: a worker silent past its own timeout loses its tasks at the
-- next poll, even when nothing at all was heard meanwhile, and pgflow.server_starts records one start.
begin;
select plan(3);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select set_config('pgflow.worker_timeout', '6 s', true);
select pgflow.define_flow('no_outage', '[{"slug": "a"}]');
select run_id from pgflow.start_run('no_outage') \gset
select pgflow.heartbeat('gone');
select count(*) from pgflow.poll_for_tasks('gone', array['no_outage']);
select pgflow_tests.set_now('2030-01-01 12:00:10+00');
select count(*) from pgflow.poll_for_tasks('other', array['no_outage']);
select is(pgflow_tests.task_status(:'run_id', 'a'), 'queued', 'the task was expired, to be retried');
select alike(
  (select error from pgflow.step_tasks where run_id = :'run_id'),
  'attempt 1 timed out: worker ''gone'' sent no heartbeat since % (its timeout is 00:00:06)',
  'because its worker went silent for longer than its own timeout'
);
select is(
  (select count(*)::int from pgflow.server_starts where server_started_at = pg_postmaster_start_time()), 1,
  'the current server start is recorded once'
);

select finish();
rollback;
