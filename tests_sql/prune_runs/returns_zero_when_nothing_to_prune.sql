-- prune_runs deletes nothing and returns 0 when no run finished more than older_than ago.
begin;
select plan(2);

select pgflow_tests.set_now('2024-01-01 00:00:00+00');
select pgflow.define_flow('prune_none', '[{"slug": "a"}]');
select run_id from pgflow.start_run('prune_none', '{}') \gset
select pgflow_tests.complete(:'run_id', 'a', '1');
select pgflow_tests.set_now('2024-01-01 00:59:00+00');

select is(pgflow.prune_runs(interval '1 hour'), 0, 'prune_runs returns 0');
select is(pgflow_tests.run_status(:'run_id'), 'completed', 'the run finished 59 minutes ago is kept');

select finish();
rollback;
