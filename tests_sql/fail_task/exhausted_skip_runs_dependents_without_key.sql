-- Exhaustion with when_exhausted "skip": the step becomes skipped and its dependent runs without its key in
-- the input; the run then completes.
begin;
select plan(8);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow(
  'exhaust_skip',
  '[{"slug": "flaky", "depends_on": [], "max_attempts": 1, "when_exhausted": "skip"},
    {"slug": "steady", "depends_on": []},
    {"slug": "merge", "depends_on": ["flaky", "steady"]}]'
);
select run_id from pgflow.start_run('exhaust_skip') \gset
select is((select count(*)::int from pgflow_tests.poll('exhaust_skip')), 2, 'flaky and steady are started');

select is(pgflow.fail_task(:'run_id', 'flaky', 0, 'boom', 1), true, 'flaky''s last attempt fails');
select is(pgflow_tests.step_status(:'run_id', 'flaky'), 'skipped', 'flaky is skipped');
select is(pgflow_tests.run_status(:'run_id'), 'started', 'the run goes on');

select ok(pgflow.complete_task(:'run_id', 'steady', 0, '"S"', 1), 'steady completes');
select is(
  (select input from pgflow_tests.poll('exhaust_skip')), '{"steady": "S"}'::jsonb,
  'merge runs with steady''s output and no key for flaky'
);
select ok(pgflow.complete_task(:'run_id', 'merge', 0, '"M"', 1), 'merge completes');
select is(pgflow_tests.run_status(:'run_id'), 'completed', 'the run completes');

select finish();
rollback;
