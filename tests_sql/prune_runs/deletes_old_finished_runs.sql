-- prune_runs deletes runs that finished more than older_than ago, whatever their terminal status (completed,
-- failed, cancelled), together with their step states and tasks, and returns how many runs it deleted.
begin;
select plan(5);

select pgflow_tests.set_now('2024-01-01 00:00:00+00');
select pgflow.define_flow('prune_old', '[{"slug": "a"}, {"slug": "b"}]', '{"max_attempts": 1}');

select run_id as completed_run from pgflow.start_run('prune_old', '{}') \gset
select pgflow_tests.complete(:'completed_run', 'a', '1');
select pgflow_tests.complete(:'completed_run', 'b', '2');
select run_id as failed_run from pgflow.start_run('prune_old', '{}') \gset
select pgflow_tests.claim_and_fail(:'failed_run', 'a', 'broke');
select run_id as cancelled_run from pgflow.start_run('prune_old', '{}') \gset
select pgflow.cancel_run(:'cancelled_run');

select results_eq(
  format(
    $$select status from pgflow.runs where run_id in (%L, %L, %L) order by status$$,
    :'completed_run', :'failed_run', :'cancelled_run'
  ),
  $$values ('cancelled'), ('completed'), ('failed')$$,
  'the three runs finished, one of each terminal status'
);

select pgflow_tests.set_now('2024-01-09 00:00:00+00');

select is(pgflow.prune_runs(interval '7 days'), 3, 'prune_runs returns the number of runs it deleted');
select is_empty(
  format(
    $$select from pgflow.runs where run_id in (%L, %L, %L)$$, :'completed_run', :'failed_run', :'cancelled_run'
  ),
  'the runs are gone'
);
select is_empty(
  format(
    $$select from pgflow.step_states where run_id in (%L, %L, %L)$$, :'completed_run', :'failed_run', :'cancelled_run'
  ),
  'their step states are gone'
);
select is_empty(
  format(
    $$select from pgflow.step_tasks where run_id in (%L, %L, %L)$$, :'completed_run', :'failed_run', :'cancelled_run'
  ),
  'their tasks are gone'
);

select finish();
rollback;
