-- Cancelling a parent run cancels its started child runs, and theirs (grandchildren); a child that already completed
-- is left as it is.
begin;
select plan(6);

select pgflow.define_flow('sf_leaf', '[{"slug": "l"}]');
select pgflow.define_flow('sf_mid', '[{"slug": "m", "flow": "sf_leaf"}]');
select pgflow.define_flow('sf_top', '[{"slug": "t", "type": "map", "flow": "sf_mid"}]');
select run_id from pgflow.start_run('sf_top', '[1, 2]') \gset
select pgflow_tests.child_run(:'run_id', 't', 0) as mid0 \gset
select pgflow_tests.child_run(:'run_id', 't', 1) as mid1 \gset
select ok(pgflow_tests.complete(pgflow_tests.child_run(:'mid0', 'm'), 'l', '1'), 'the first branch completes');

select is((pgflow.cancel_run(:'run_id', 'operator said so')).status, 'cancelled', 'the parent is cancelled');
select is(pgflow_tests.run_status(:'mid0'), 'completed', 'a completed child stays completed');
select is(pgflow_tests.run_status(:'mid1'), 'cancelled', 'the started child is cancelled');
select is(pgflow_tests.run_status(pgflow_tests.child_run(:'mid1', 'm')), 'cancelled', 'and its own child too');
select is(
  (
    select count(*)::int from pgflow.step_tasks as t inner join pgflow.runs as r on t.run_id = r.run_id
    where r.status = 'cancelled' and t.status in ('queued', 'started')
  ),
  0, 'no task of a cancelled run is left queued or started'
);

select finish();
rollback;
