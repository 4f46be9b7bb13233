-- poll_for_tasks_lean claims like poll_for_tasks but leaves flow_input null; get_run_input returns the run
-- input when a handler needs it, and PF006 for an unknown run.
begin;
select plan(5);

select pgflow.define_flow('lean_map', '[{"slug": "m", "type": "map"}]');
select run_id from pgflow.start_run('lean_map', '[1, 2]') \gset

select results_eq(
  $$select task_index, input, flow_input, attempt from pgflow.poll_for_tasks_lean('lean-w', array['lean_map'])
    order by task_index$$,
  $$values (0, '1'::jsonb, null::jsonb, 1), (1, '2'::jsonb, null::jsonb, 1)$$,
  'tasks are claimed with their inputs and no flow_input'
);
select is(pgflow_tests.task_status(:'run_id', 'm', 0), 'started', 'the claim is real');
select is(
  (select worker_id from pgflow.step_tasks where run_id = :'run_id' and task_index = 1), 'lean-w', 'by that worker'
);
select is(pgflow.get_run_input(:'run_id'), '[1, 2]'::jsonb, 'get_run_input returns the run input');
select throws_ok(
  $$select pgflow.get_run_input('00000000-0000-0000-0000-000000000000')$$, 'PF006', null, 'unknown run: PF006'
);

select finish();
rollback;
