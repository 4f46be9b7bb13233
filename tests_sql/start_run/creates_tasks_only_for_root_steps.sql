-- start_run creates tasks only for the root steps (no dependencies): one queued task, task_index 0, no attempt
-- yet, for each root; steps that wait for dependencies get no task.
begin;
select plan(3);

select pgflow.define_flow(
  'tasks_for_roots',
  '[{"slug": "r1"},
    {"slug": "r2"},
    {"slug": "mid", "depends_on": ["r1"]},
    {"slug": "leaf", "depends_on": ["mid", "r2"]}]'
);
select run_id from pgflow.start_run('tasks_for_roots', '{}') \gset

select results_eq(
  format(
    $$select step_slug, task_index, status, attempt from pgflow.step_tasks where run_id = %L order by step_slug$$,
    :'run_id'
  ),
  $$values ('r1', 0, 'queued', 0), ('r2', 0, 'queued', 0)$$,
  'one queued task per root step and none for the others'
);
select set_eq(
  format($$select step_slug from pgflow_tests.poll('tasks_for_roots')$$),
  array['r1', 'r2'],
  'only the root tasks are claimable'
);
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'run_id' and step_slug in ('mid', 'leaf')), 0,
  'steps waiting for dependencies have no task'
);

select finish();
rollback;
