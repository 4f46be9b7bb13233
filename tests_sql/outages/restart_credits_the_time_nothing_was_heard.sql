-- After the database server restarts, the first poll credits every worker's lease and every attempt's
-- deadline with the time the engine heard nothing (10 minutes here, in fake time): a worker that comes back
-- within its own timeout and reports is not failed by the outage, whatever its length. The credit is
-- recorded in pgflow.server_starts; a lease that then runs out is expired as usual.
-- (The restart is simulated by forgetting that the current server start was noticed.)
begin;
select plan(9);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select set_config('pgflow.worker_timeout', '6 s', true);
select pgflow.define_flow(
  'outage', '[{"slug": "a", "depends_on": [], "timeout": 60}, {"slug": "b", "depends_on": [], "timeout": 5}]'
);
select run_id from pgflow.start_run('outage') \gset
select pgflow.heartbeat('survivor');
select count(*) from pgflow.poll_for_tasks('survivor', array['outage']);

-- the server goes down for 10 minutes and comes back; another worker polls first
delete from pgflow.server_starts;
select pgflow_tests.set_now('2030-01-01 12:10:00+00');
select is(
  (select count(*)::int from pgflow.poll_for_tasks('other', array['outage'])), 0, 'the first poll claims nothing'
);
select is(pgflow_tests.task_status(:'run_id', 'a'), 'started', 'the survivor keeps task a (its lease was credited)');
select is(
  pgflow_tests.task_status(:'run_id', 'b'), 'started', 'and task b, whose 5 s deadline passed during the outage'
);
select is(
  (select credit from pgflow.server_starts where server_started_at = pg_postmaster_start_time()),
  interval '10 minutes', 'the credit is the time nothing was heard'
);
select is(
  (select deadline from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'b'),
  '2030-01-01 12:10:05+00'::timestamptz, 'the deadline moved by the credit'
);

select pgflow_tests.set_now('2030-01-01 12:10:02+00');
select is(pgflow.complete_task(:'run_id', 'a', 0, '"a"', 1), true, 'the survivor reports a');
select is(pgflow.complete_task(:'run_id', 'b', 0, '"b"', 1), true, 'and b');
select is(pgflow_tests.run_status(:'run_id'), 'completed', 'the run completes');

-- a worker that does not come back loses its tasks once its (credited) lease ends
select run_id as run2 from pgflow.start_run('outage') \gset
select count(*) from pgflow.poll_for_tasks('survivor', array['outage']);
select pgflow_tests.set_now('2030-01-01 12:10:09+00');
select count(*) from pgflow.poll_for_tasks('other', array['outage']);
select is(
  pgflow_tests.task_status(:'run2', 'a'), 'queued', 'a worker silent past its timeout still loses its tasks'
);

select finish();
rollback;
