-- get_run_status counts tasks including map elements: in list -> each (map over 3 elements) -> total, the run's
-- total_tasks/completed_tasks and the map step's own counts include one task per element.
begin;
select plan(5);

select pgflow.define_flow(
  'status_map',
  '[{"slug": "list"},
    {"slug": "each", "type": "map", "depends_on": ["list"]},
    {"slug": "total", "depends_on": ["each"]}]'
);
select run_id from pgflow.start_run('status_map', '{}') \gset
select pgflow_tests.complete(:'run_id', 'list', '[1, 2, 3]');
select pgflow_tests.complete(:'run_id', 'each', '10', 0);
select pgflow_tests.complete(:'run_id', 'each', '30', 2);

select is(
  (pgflow.get_run_status(:'run_id') ->> 'completed_tasks')::int, 3,
  'mid-map: completed_tasks counts list and the two completed elements'
);
select is(
  (
    select jsonb_build_array(e.step -> 'total_tasks', e.step -> 'completed_tasks')
    from jsonb_array_elements(pgflow.get_run_status(:'run_id') -> 'steps') as e (step)
    where e.step ->> 'step_slug' = 'each'
  ),
  '[3, 2]'::jsonb,
  'mid-map: the map step has 3 tasks, 2 completed'
);

select pgflow_tests.complete(:'run_id', 'each', '20', 1);
select is(
  jsonb_build_array(
    pgflow.get_run_status(:'run_id') -> 'total_tasks', pgflow.get_run_status(:'run_id') -> 'completed_tasks'
  ),
  '[5, 4]'::jsonb,
  'once total started: 5 tasks (1 + 3 elements + 1), 4 completed'
);
select pgflow_tests.complete(:'run_id', 'total', '60');
select is(
  jsonb_build_array(
    pgflow.get_run_status(:'run_id') -> 'total_tasks', pgflow.get_run_status(:'run_id') -> 'completed_tasks'
  ),
  '[5, 5]'::jsonb,
  'at the end: 5 tasks, 5 completed'
);
select is(pgflow.get_run_status(:'run_id') ->> 'status', 'completed', 'the run completed');

select finish();
rollback;
