-- Runs keep the version they started with: a run started before a redefinition follows version 1
-- (its step states, the tasks it queues and its output are v1's), a run started after uses version 2.
-- v1: a -> b. v2: a, then b and c both after a.
begin;
select plan(10);

select pgflow.define_flow('versioned_runs', '[{"slug": "a"}, {"slug": "b"}]');
select run_id as old_run from pgflow.start_run('versioned_runs', '{"n": 1}') \gset

select pgflow.define_flow(
  'versioned_runs',
  '[{"slug": "a", "depends_on": []}, {"slug": "b", "depends_on": ["a"]}, {"slug": "c", "depends_on": ["a"]}]'
);
select run_id as new_run from pgflow.start_run('versioned_runs', '{"n": 2}') \gset

select is((select flow_version from pgflow.runs where run_id = :'old_run'), 1, 'the old run stays on version 1');
select is((select flow_version from pgflow.runs where run_id = :'new_run'), 2, 'the new run uses version 2');
select set_eq(
  format($$select step_slug from pgflow.step_states where run_id = %L$$, :'old_run'),
  array['a', 'b'],
  'the old run has v1''s step states'
);
select set_eq(
  format($$select step_slug from pgflow.step_states where run_id = %L$$, :'new_run'),
  array['a', 'b', 'c'],
  'the new run has v2''s step states'
);

select ok(pgflow_tests.complete(:'old_run', 'a', '"A1"'), 'the old run''s a completes');
select set_eq(
  format($$select step_slug from pgflow.step_tasks where run_id = %L$$, :'old_run'),
  array['a', 'b'],
  'the old run queues only v1''s steps'
);
select ok(pgflow_tests.complete(:'old_run', 'b', '"B1"'), 'the old run''s b completes');
select results_eq(
  format($$select status, output from pgflow.runs where run_id = %L$$, :'old_run'),
  $$values ('completed', '{"b": "B1"}'::jsonb)$$,
  'the old run completes with v1''s leaf output'
);

select ok(pgflow_tests.complete(:'new_run', 'a', '"A2"'), 'the new run''s a completes');
select set_eq(
  format($$select step_slug from pgflow.step_tasks where run_id = %L and status = 'queued'$$, :'new_run'),
  array['b', 'c'],
  'the new run queues v2''s b and c'
);

select finish();
rollback;
