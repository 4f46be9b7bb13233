-- A flow built with create_flow and add_step runs end to end: root single step, a step after it and a
-- map over its output, then a merge; start_run, poll and complete take it to completed with the
-- leaf's output.
begin;
select plan(8);

select pgflow.create_flow('built_flow');
select pgflow.add_step('built_flow', 'fetch');
select pgflow.add_step('built_flow', 'split', array['fetch']);
select pgflow.add_step('built_flow', 'each', array['split'], step_type => 'map');
select pgflow.add_step('built_flow', 'merge', array['fetch', 'each']);

select run_id from pgflow.start_run('built_flow', '{"url": "x"}') \gset
select is(
  (pgflow_tests.claim(:'run_id', 'fetch')).input, '{"url": "x"}'::jsonb, 'the root step receives the run input'
);
select ok(pgflow.complete_task(:'run_id', 'fetch', 0, '"page"'), 'fetch completes');
select ok(pgflow_tests.complete(:'run_id', 'split', '[1, 2]'), 'split completes with an array');
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'each'), 2,
  'the map step has one task per element'
);
select ok(pgflow_tests.complete(:'run_id', 'each', '10', 0), 'map task 0 completes');
select ok(pgflow_tests.complete(:'run_id', 'each', '20', 1), 'map task 1 completes');
select ok(pgflow_tests.complete(:'run_id', 'merge', '"done"'), 'merge completes');
select results_eq(
  format($$select status, output from pgflow.runs where run_id = %L$$, :'run_id'),
  $$values ('completed', '{"merge": "done"}'::jsonb)$$,
  'the run completes with the leaf''s output'
);

select finish();
rollback;
