-- Completing a step decrements remaining_deps of its dependents only: in the diamond a -> (b, c) -> d,
-- completing a moves b and c to 0 and leaves d at 2; completing b moves d to 1; the merge step d
-- starts only after c, and receives both branch outputs.
begin;
select plan(9);

select pgflow_tests.define_diamond('diamond_decrements');
select run_id from pgflow.start_run('diamond_decrements', '{"n": 1}') \gset

select ok(pgflow_tests.complete(:'run_id', 'a', '"A"'), 'a completes');
select results_eq(
  format($$select step_slug, remaining_deps from pgflow.step_states where run_id = %L order by step_slug$$, :'run_id'),
  $$values ('a', 0), ('b', 0), ('c', 0), ('d', 2)$$,
  'completing a counts down b and c, not d'
);
select is(pgflow_tests.step_status(:'run_id', 'd'), 'created', 'd waits for both branches');

select ok(pgflow_tests.complete(:'run_id', 'b', '"B"'), 'b completes');
select is(
  (select remaining_deps from pgflow.step_states where run_id = :'run_id' and step_slug = 'd'), 1,
  'completing b counts d down to 1'
);
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'd'), 0,
  'd has no task while c runs'
);

select ok(pgflow_tests.complete(:'run_id', 'c', '"C"'), 'c completes');
select is(
  (pgflow_tests.claim(:'run_id', 'd')).input, '{"b": "B", "c": "C"}'::jsonb,
  'the merge step receives both branch outputs'
);
select is(pgflow_tests.step_status(:'run_id', 'd'), 'started', 'd started after both branches');

select finish();
rollback;
