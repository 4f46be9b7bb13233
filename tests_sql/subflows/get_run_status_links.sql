-- get_run_status: a sub-flow step lists its child flow and the latest child run of each task; a child run names its
-- parent; steps and runs without sub-flows have none of these keys.
begin;
select plan(4);

select pgflow.define_flow('sf_c', '[{"slug": "c"}]');
select pgflow.define_flow(
  'sf_p', '[{"slug": "sub", "type": "map", "flow": "sf_c"}, {"slug": "plain", "depends_on": []}]'
);
select run_id from pgflow.start_run('sf_p', '[1, 2]') \gset
select pgflow_tests.child_run(:'run_id', 'sub', 1) as child1 \gset

select is(
  (select s from jsonb_array_elements(pgflow.get_run_status(:'run_id') -> 'steps') as s where s ->> 'step_slug' = 'sub')
  - array[
    'started_at',
    'finished_at',
    'error',
    'depends_on',
    'attempts',
    'total_tasks',
    'completed_tasks',
    'status',
    'step_type',
    'step_slug'
  ],
  jsonb_build_object('subflow', 'sf_c', 'child_runs', jsonb_build_array(
    jsonb_build_object('task_index', 0, 'run_id', pgflow_tests.child_run(:'run_id', 'sub', 0), 'status', 'started'),
    jsonb_build_object('task_index', 1, 'run_id', :'child1'::uuid, 'status', 'started')
  )),
  'the sub-flow step lists its child runs'
);
select ok(
  not (
    (
      select s
      from jsonb_array_elements(pgflow.get_run_status(:'run_id') -> 'steps') as s
      where s ->> 'step_slug' = 'plain'
    )
    ?| array['subflow', 'child_runs']
  ),
  'a plain step has no sub-flow keys'
);
select is(
  pgflow.get_run_status(:'child1') -> 'parent',
  jsonb_build_object('run_id', :'run_id'::uuid, 'step_slug', 'sub', 'task_index', 1), 'the child names its parent task'
);
select ok(not pgflow.get_run_status(:'run_id') ? 'parent', 'a run that is no child has no "parent"');

select finish();
rollback;
