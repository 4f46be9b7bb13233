-- concurrency 1: at most one task of the step is started at any time, across runs. A failed attempt that is
-- retried, and an attempt that timed out (expired by the poll itself), free the slot at once: the next poll
-- claims one task again, never two.
begin;
select plan(11);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select pgflow.define_flow(
  'cap_one', '[{"slug": "work", "concurrency": 1, "max_attempts": 3, "base_delay": 0, "timeout": 5}]'
);
select pgflow.start_run('cap_one', pg_catalog.jsonb_build_object('n', n)) from pg_catalog.generate_series(1, 3) as n;

create temporary table first_claim on commit drop as select * from pgflow_tests.poll('cap_one');
select is((select pg_catalog.count(*)::int from first_claim), 1, 'a poll of 10 claims one task of three');
select is(pgflow_tests.poll_all('cap_one'), 0, 'no further poll claims another while it is started');

select ok(
  (select pgflow.fail_task(f.run_id, f.step_slug, f.task_index, 'boom', f.attempt) from first_claim as f),
  'the attempt fails and is retried (base_delay 0)'
);
select is(pgflow_tests.started_count('cap_one'), 0, 'the failure freed the slot');
select is((select pg_catalog.count(*)::int from pgflow_tests.poll('cap_one')), 1, 'the next poll claims one task');
select is(pgflow_tests.poll_all('cap_one'), 0, 'and no more');

-- the started attempt times out: the poll expires it (the retry is due at once) and claims one task again
select pgflow_tests.set_now('2030-01-01 00:00:06+00');
select is((select pg_catalog.count(*)::int from pgflow_tests.poll('cap_one')), 1, 'after a timeout, a poll claims one task');
select is(
  (select pg_catalog.count(*)::int from pgflow.step_tasks where flow_slug = 'cap_one' and attempt > 0 and error like '%timed out%'),
  1, 'the expired attempt was counted as failed'
);
select is(pgflow_tests.started_count('cap_one'), 1, 'one task is started');

-- completing it frees the slot; the three runs finish, one task at a time
select is(pgflow_tests.work_through('cap_one'), 1, 'working through the rest, never more than one task is started');
select is(
  (select pg_catalog.count(*)::int from pgflow.runs where flow_slug = 'cap_one' and status = 'completed'), 3,
  'every run completed'
);

select finish();
rollback;
