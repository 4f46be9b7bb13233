-- Tasks held by the engine take no worker's report: complete_task, complete_tasks and fail_task return false for a
-- wait step's task (only pgflow.signal completes it) and for a sub-flow step's task (only its child run does), and
-- change nothing: the wait keeps waiting, the child run keeps running, the parent task keeps waiting for it.
begin;
select plan(10);

select pgflow.define_flow('eh_child', '[{"slug": "work"}]');
select pgflow.define_flow(
  'eh_parent',
  '[{"slug": "approval", "type": "wait", "depends_on": []}, {"slug": "sub", "flow": "eh_child", "depends_on": []}]'
);
select run_id from pgflow.start_run('eh_parent', '{}') \gset
select pgflow_tests.child_run(:'run_id', 'sub') as child \gset

select is(pgflow.complete_task(:'run_id', 'approval', 0, '"forged"'), false, 'complete_task on a wait: false');
select is(
  pgflow.complete_tasks(array[:'run_id'::uuid], array['approval'], array[0], array['"forged"'::jsonb]), array[false],
  'complete_tasks on a wait: false'
);
select is(pgflow.fail_task(:'run_id', 'approval', 0, 'forged', retry => false), false, 'fail_task on a wait: false');
select is(
  pgflow.get_run_status(:'run_id') #>> '{steps,0,status}', 'waiting', 'the wait still waits, with no signal'
);
select is(pgflow.signal(:'run_id', 'approval', '"real"'), true, 'the real signal is still the first');

select is(pgflow.complete_task(:'run_id', 'sub', 0, '"forged"', 1), false, 'complete_task on a sub-flow task: false');
select is(pgflow.fail_task(:'run_id', 'sub', 0, 'forged'), false, 'fail_task on a sub-flow task: false');
select is(pgflow_tests.task_status(:'run_id', 'sub'), 'started', 'the sub-flow task still waits for its child');
select is((select status from pgflow.runs where run_id = :'child'), 'started', 'the child run still runs');

select ok(pgflow_tests.complete(:'child', 'work', '7'), 'the child completes');
select finish();
rollback;
