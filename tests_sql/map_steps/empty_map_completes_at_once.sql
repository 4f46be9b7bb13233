-- A map step whose dependency returns [] has no task: it completes with [] in the transaction that completed the
-- dependency, and its dependents start in that same transaction.
begin;
select plan(6);

select pgflow.define_flow(
  'empty_map',
  '[{"slug": "list"},
    {"slug": "each", "type": "map", "depends_on": ["list"]},
    {"slug": "summary", "depends_on": ["each"]}]'
);
select run_id from pgflow.start_run('empty_map', '{}') \gset

select ok(pgflow_tests.complete(:'run_id', 'list', '[]'), 'list completes with []');
select results_eq(
  format(
    $$select status, output, initial_tasks, remaining_tasks from pgflow.step_states
      where run_id = %L and step_slug = 'each'$$,
    :'run_id'
  ),
  $$values ('completed', '[]'::jsonb, 0, 0)$$,
  'the empty map step is completed with output []'
);
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'each'), 0,
  'the empty map step has no task'
);
select is(pgflow_tests.step_status(:'run_id', 'summary'), 'started', 'its dependent started at once');
select is(
  (select input from pgflow_tests.poll('empty_map') where step_slug = 'summary'), '{"each": []}'::jsonb,
  'the dependent receives the empty array'
);
select ok(pgflow_tests.complete(:'run_id', 'summary', '0'), 'the dependent completes');

select finish();
rollback;
