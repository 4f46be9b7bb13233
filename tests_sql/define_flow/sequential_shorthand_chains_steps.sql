-- Sequential shorthand: when no step has a depends_on key, each step depends on the one before it,
-- so three steps become the chain first -> second -> third, and a run starts with the first alone.
begin;
select plan(5);

select pgflow.define_flow('seq_chain', '[{"slug": "first"}, {"slug": "second"}, {"slug": "third"}]');

select results_eq(
  $$select dep_slug, step_slug from pgflow.deps where flow_slug = 'seq_chain' order by step_slug$$,
  $$values ('first', 'second'), ('second', 'third')$$,
  'each step depends on the one before it, and only on that one'
);
select results_eq(
  $$select step_slug, deps_count from pgflow.steps where flow_slug = 'seq_chain' order by step_index$$,
  $$values ('first', 0), ('second', 1), ('third', 1)$$,
  'the first step is the only root'
);

select run_id from pgflow.start_run('seq_chain') \gset
select results_eq(
  format($$select step_slug from pgflow.step_tasks where run_id = %L$$, :'run_id'),
  $$values ('first')$$,
  'a run starts with the first step only'
);
select ok(pgflow_tests.complete(:'run_id', 'first', '1'), 'first completes');
select results_eq(
  format($$select step_slug, status from pgflow.step_states where run_id = %L order by step_slug$$, :'run_id'),
  $$values ('first', 'completed'), ('second', 'started'), ('third', 'created')$$,
  'completing the first step starts the second, and the third still waits'
);

select finish();
rollback;
