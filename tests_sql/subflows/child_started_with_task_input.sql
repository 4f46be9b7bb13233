-- A sub-flow step's task starts a run of the child flow's current version: a root step's child gets the run input,
-- a dependent step's child the object of its dependencies' outputs; the child runs at the parent run's priority and
-- records its parent task. The task is engine-held: started, no worker, no deadline, never claimable.
begin;
select plan(12);

select pgflow.define_flow('sf_child', '[{"slug": "c"}]');
select pgflow.define_flow('sf_child', '[{"slug": "c2"}]');
select pgflow.set_current_version('sf_child', 1);
select pgflow.define_flow(
  'sf_parent',
  '[{"slug": "root_sub", "flow": "sf_child"}, {"slug": "a"},
    {"slug": "dep_sub", "flow": "sf_child", "depends_on": ["a"]}]'
);
select run_id from pgflow.start_run('sf_parent', '{"order": 7}', priority => 5) \gset

select pgflow_tests.child_run(:'run_id', 'root_sub') as root_child \gset
select is(
  (select input from pgflow.runs where run_id = :'root_child'), '{"order": 7}'::jsonb,
  'a root sub-flow step''s child gets the run input'
);
select is(
  (select flow_version from pgflow.runs where run_id = :'root_child'), 1,
  'the child runs on the child flow''s current version (1, made current again), not its newest'
);
select is((select priority from pgflow.runs where run_id = :'root_child'), 5, 'the child has the parent''s priority');
select is(
  (
    select array[parent_run_id::text, parent_step_slug, parent_task_index::text, parent_attempt::text]
    from pgflow.runs where run_id = :'root_child'
  ),
  array[:'run_id', 'root_sub', '0', '1'], 'the child records its parent task and attempt'
);
select is(
  (
    select array[status, coalesce(worker_id, '-'), coalesce(deadline::text, '-'), attempt::text]
    from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'root_sub'
  ),
  array['started', '-', '-', '1'], 'the task is held by the engine: started, no worker, no deadline, attempt 1'
);
select is(pgflow_tests.step_status(:'run_id', 'root_sub'), 'started', 'the sub-flow step is started');
select
  is(
    pgflow_tests.child_run(:'run_id', 'dep_sub'), null, 'a dependent sub-flow step starts no child before it is ready'
  );

select is(
  (select array_agg(step_slug order by step_slug) from pgflow.poll_for_tasks('w', null, 100)),
  array['a', 'c'], 'polls claim worker tasks only (a, and the child''s c), never a sub-flow task'
);
select ok(pgflow.complete_task(:'run_id', 'a', 0, '{"n": 1}'), 'a completes');
select pgflow_tests.child_run(:'run_id', 'dep_sub') as dep_child \gset
select is(
  (select input from pgflow.runs where run_id = :'dep_child'), '{"a": {"n": 1}}'::jsonb,
  'a dependent sub-flow step''s child gets the object of its dependencies'' outputs'
);
select is(pgflow_tests.child_count(:'run_id'), 2, 'one child per task');
select is(pgflow_tests.run_status(:'dep_child'), 'started', 'the child run is started');

select finish();
rollback;
