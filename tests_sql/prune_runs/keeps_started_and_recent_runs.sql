-- prune_runs keeps runs that are still started (however old) and runs that finished less than older_than ago
-- (or exactly older_than ago: only "more than" is deleted), with their step states and tasks; it deletes only the
-- run that finished long enough ago and returns 1.
begin;
select plan(5);

select pgflow_tests.set_now('2024-01-01 00:00:00+00');
select pgflow.define_flow('prune_keep', '[{"slug": "a"}, {"slug": "b"}]');

select run_id as old_started_run from pgflow.start_run('prune_keep', '{}') \gset
select pgflow_tests.claim(:'old_started_run', 'a');
select run_id as old_finished_run from pgflow.start_run('prune_keep', '{}') \gset
select pgflow.cancel_run(:'old_finished_run');

select pgflow_tests.set_now('2024-01-03 00:00:00+00');
select run_id as boundary_run from pgflow.start_run('prune_keep', '{}') \gset
select pgflow.cancel_run(:'boundary_run');

select pgflow_tests.set_now('2024-01-09 23:00:00+00');
select run_id as recent_run from pgflow.start_run('prune_keep', '{}') \gset
select pgflow_tests.complete(:'recent_run', 'a', '1');
select pgflow_tests.complete(:'recent_run', 'b', '2');
select run_id as new_started_run from pgflow.start_run('prune_keep', '{}') \gset

select pgflow_tests.set_now('2024-01-10 00:00:00+00');

select is(pgflow.prune_runs(interval '7 days'), 1, 'only one run is old enough to prune');
select is_empty(
  format($$select from pgflow.runs where run_id = %L$$, :'old_finished_run'),
  'the run finished 9 days ago is gone'
);
select set_eq(
  format(
    $$select run_id, status from pgflow.runs where run_id in (%L, %L, %L, %L)$$,
    :'old_started_run', :'boundary_run', :'recent_run', :'new_started_run'
  ),
  format(
    $$values (%L::uuid, 'started'), (%L::uuid, 'cancelled'), (%L::uuid, 'completed'), (%L::uuid, 'started')$$,
    :'old_started_run', :'boundary_run', :'recent_run', :'new_started_run'
  ),
  'the old started run, the run finished exactly 7 days ago, the recent run and the new run are kept'
);
select is(
  (
    select count(*)::int from pgflow.step_states
    where run_id in (:'old_started_run', :'boundary_run', :'recent_run', :'new_started_run')
  ),
  8,
  'the kept runs keep their step states'
);
select is(
  (
    select count(*)::int from pgflow.step_tasks
    where run_id in (:'old_started_run', :'boundary_run', :'recent_run', :'new_started_run')
  ),
  5,
  'the kept runs keep their tasks'
);

select finish();
rollback;
