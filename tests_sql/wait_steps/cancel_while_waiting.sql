-- cancel_run while a step waits cancels its task and the step; a signal afterwards is PF008.
begin;
select plan(4);

select pgflow.define_flow('cancel_wait', '[{"slug": "approval", "type": "wait"}, {"slug": "after"}]');
select run_id from pgflow.start_run('cancel_wait', '{}') \gset
select pgflow.cancel_run(:'run_id', 'no longer needed');

select is(pgflow_tests.task_status(:'run_id', 'approval'), 'cancelled', 'the wait task is cancelled');
select is(pgflow_tests.step_status(:'run_id', 'approval'), 'cancelled', 'the wait step is cancelled');
select is(pgflow_tests.step_status(:'run_id', 'after'), 'cancelled', 'the step after it too');
select throws_ok(format($$select pgflow.signal(%L, 'approval')$$, :'run_id'), 'PF008', null, 'a signal is PF008');

select finish();
rollback;
