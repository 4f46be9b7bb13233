-- Among due tasks, those of runs of higher priority are claimed first. A low-priority task whose retry has become
-- due does not go ahead of a high-priority task, and a delayed retry is not claimable before it is due.
begin;
select plan(7);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select pgflow.define_flow('prio', '[{"slug": "work", "base_delay": 5, "max_attempts": 3}]');
select run_id as low from pgflow.start_run('prio', '{"who": "low"}') \gset

select is(
  (select row(p.run_id, p.attempt)::text from pgflow_tests.poll('prio') as p), row(:'low'::uuid, 1)::text,
  'the low-priority task is claimed while alone'
);
select ok(pgflow.fail_task(:'low', 'work', 0, 'boom', 1), 'it fails: retried in 5 s');

select pgflow_tests.set_now('2030-01-01 00:00:01+00');
select run_id as high from pgflow.start_run('prio', '{"who": "high"}', priority => 10) \gset
select run_id as low_new from pgflow.start_run('prio', '{"who": "low, later"}') \gset
select is((select priority from pgflow.runs where run_id = :'high'), 10, 'the run records its priority');

select pgflow_tests.set_now('2030-01-01 00:00:04.9+00');
select is(
  (select pg_catalog.count(*)::int from pgflow_tests.poll('prio') where run_id = :'low'), 0,
  'the retry is not claimable before it is due'
);
-- (that poll claimed the two others; they complete)
select pgflow_tests.complete_started('prio');

select pgflow_tests.set_now('2030-01-01 00:00:06+00');
select run_id as high2 from pgflow.start_run('prio', '{"who": "high, later"}', priority => 10) \gset
select run_id as low3 from pgflow.start_run('prio', '{"who": "low, latest"}') \gset
select is(
  (select p.run_id from pgflow_tests.poll('prio', 1) as p), :'high2'::uuid,
  'at 6 s the low-priority retry is due, yet the high-priority task started later is claimed first'
);
select is(
  (select row(p.run_id, p.attempt)::text from pgflow_tests.poll('prio', 1) as p), row(:'low'::uuid, 2)::text,
  'then the retry (due since 5 s, before the latest low-priority task)'
);
select is(
  (select p.run_id from pgflow_tests.poll('prio', 1) as p), :'low3'::uuid, 'then the latest low-priority task'
);

select finish();
rollback;
