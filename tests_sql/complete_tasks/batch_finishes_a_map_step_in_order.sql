-- A batch holding the last tasks of a map step completes the step once, with every output in task_index
-- order, whatever the order of the reports; a stale attempt in the batch is fenced off.
begin;
select plan(5);

select pgflow.define_flow('batch_map', '[{"slug": "m", "type": "map"}, {"slug": "r", "depends_on": ["m"]}]');
select run_id from pgflow.start_run('batch_map', '[10, 20, 30, 40]') \gset
select count(*) from pgflow_tests.poll('batch_map');

select ok(pgflow.complete_task(:'run_id', 'm', 1, '21', 1), 'task 1 completes alone');
select is(
  pgflow.complete_tasks(
    array[:'run_id', :'run_id', :'run_id', :'run_id']::uuid[], array['m', 'm', 'm', 'm'], array[3, 0, 2, 2],
    array['41', '11', '31', '99']::jsonb[], array[1, 1, 1, 7]
  ),
  array[true, true, true, false],
  'the other three complete in one batch; a report with a stale attempt is refused'
);
select is(pgflow_tests.step_status(:'run_id', 'm'), 'completed', 'the map step completed');
select is(
  (select output from pgflow.step_states where run_id = :'run_id' and step_slug = 'm'), '[11, 21, 31, 41]'::jsonb,
  'its output holds every task output in task_index order'
);
select is(
  (pgflow_tests.claim(:'run_id', 'r')).input, '{"m": [11, 21, 31, 41]}'::jsonb,
  'the reduce step receives it'
);

select finish();
rollback;
