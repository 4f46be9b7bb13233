-- A root map step maps over the run input: one queued task per array element, task_index in array order, each
-- task's input its element (stored on the task and handed out by poll_for_tasks).
begin;
select plan(4);

select pgflow.define_flow('root_map_tasks', '[{"slug": "each", "type": "map"}]');
select run_id from pgflow.start_run('root_map_tasks', '["a", {"b": 2}, [3], null]') \gset

select results_eq(
  format(
    $$select task_index, status, input from pgflow.step_tasks where run_id = %L and step_slug = 'each'
      order by task_index$$,
    :'run_id'
  ),
  $$values (0, 'queued', '"a"'::jsonb), (1, 'queued', '{"b": 2}'), (2, 'queued', '[3]'), (3, 'queued', 'null')$$,
  'one queued task per element, in array order, holding its element'
);
select results_eq(
  format(
    $$select status, initial_tasks, remaining_tasks from pgflow.step_states where run_id = %L and step_slug = 'each'$$,
    :'run_id'
  ),
  $$values ('started', 4, 4)$$,
  'the map step starts with one remaining task per element'
);
select results_eq(
  $$select task_index, input from pgflow_tests.poll('root_map_tasks') order by task_index$$,
  $$values (0, '"a"'::jsonb), (1, '{"b": 2}'), (2, '[3]'), (3, 'null')$$,
  'each claimed map task receives its array element as input'
);
select is_empty(
  $$select * from pgflow_tests.poll('root_map_tasks')$$, 'nothing is left to claim once every element was claimed'
);

select finish();
rollback;
