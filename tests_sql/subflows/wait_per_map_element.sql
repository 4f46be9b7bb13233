-- One wait per map element, the documented way: a map over a sub-flow whose child flow has a wait step. Each child
-- run waits for its own signal, addressed by the child run id (listed by get_run_status); the parent's map completes
-- when the last child is signalled, with the payloads in element order, whatever order the signals come in.
begin;
select plan(7);

select pgflow.define_flow('wm_approve', '[{"slug": "approval", "type": "wait"}]');
select pgflow.define_flow('wm_batch', '[{"slug": "each", "type": "map", "flow": "wm_approve"}, {"slug": "done"}]');
select run_id from pgflow.start_run('wm_batch', '["a", "b"]') \gset

select is(
  (
    select array_agg(e ->> 'status' order by (e ->> 'task_index')::int)
    from jsonb_array_elements(pgflow.get_run_status(:'run_id') #> '{steps,0,child_runs}') as e
  ),
  array['started', 'started'], 'get_run_status lists a started child run per element'
);
select is(
  pgflow.get_run_status(pgflow_tests.child_run(:'run_id', 'each', 1)) #>> '{steps,0,status}', 'waiting',
  'each child run waits for its signal'
);
select is_empty($$select * from pgflow_tests.poll('wm_approve')$$, 'no worker task is claimable for the waits');

select ok(
  pgflow.signal(pgflow_tests.child_run(:'run_id', 'each', 1), 'approval', '"second"'),
  'the second element''s child is signalled first'
);
select is(pgflow_tests.step_status(:'run_id', 'each'), 'started', 'the map waits for its other element');
select ok(pgflow.signal(pgflow_tests.child_run(:'run_id', 'each', 0), 'approval', '"first"'), 'then the first');
select is(
  (select output from pgflow.step_states where run_id = :'run_id' and step_slug = 'each'),
  '[{"approval": "first"}, {"approval": "second"}]'::jsonb,
  'the map step completes with the child outputs in element order'
);

select finish();
rollback;
