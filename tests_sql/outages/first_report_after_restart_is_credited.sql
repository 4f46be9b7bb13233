-- A report can be the first call after a restart of the database server: it credits the outage to the
-- deadlines before it judges its own, so an attempt whose deadline passed only during the outage is recorded,
-- and one already late before the outage is still expired.
-- (The restart is simulated by forgetting that the current server start was noticed.)
begin;
select plan(5);

select pgflow.define_flow('outage_report', '[{"slug": "only", "timeout": 5, "base_delay": 0}]');
select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select run_id as late from pgflow.start_run('outage_report') \gset
select count(*) from pgflow.poll_for_tasks('survivor', array['outage_report']);
select pgflow_tests.set_now('2030-01-01 12:00:04+00');
select run_id as credited from pgflow.start_run('outage_report') \gset
select count(*) from pgflow.poll_for_tasks('survivor', array['outage_report']);
select pgflow_tests.set_now('2030-01-01 12:00:07+00');
select pgflow.heartbeat('other');

-- the server goes down after 12:00:07 (the last sign of life) for 10 minutes; the survivor's reports come first
delete from pgflow.server_starts;
select pgflow_tests.set_now('2030-01-01 12:10:07+00');
select is(
  pgflow.complete_tasks(
    array[:'credited', :'late']::uuid[], array['only', 'only'], array[0, 0], array['1', '2']::jsonb[], array[1, 1]
  ),
  array[true, false],
  'the attempt whose deadline passed during the outage is recorded; the one late before it is not'
);
select is(
  (select credit from pgflow.server_starts where server_started_at = pg_postmaster_start_time()),
  interval '10 minutes', 'the report noticed the restart and credited the time nothing was heard'
);
select is(pgflow_tests.run_status(:'credited'), 'completed', 'the credited run completes');
select is(pgflow_tests.task_status(:'late', 'only'), 'queued', 'the late attempt was expired (queued for a retry)');
select alike(
  (select error from pgflow.step_tasks where run_id = :'late'),
  'attempt 1 timed out: no result by its deadline 2030-01-01 12:10:05+00',
  'with the expiry''s error, naming its credited deadline'
);

select finish();
rollback;
