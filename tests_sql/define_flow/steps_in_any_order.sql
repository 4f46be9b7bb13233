-- Steps may be listed in any order: a step may come before the steps it depends on. The DAG is the
-- declared one and a run executes it in dependency order.
begin;
select plan(7);

select lives_ok(
  $$select pgflow.define_flow(
    'any_order',
    '[{"slug": "last", "depends_on": ["middle"]},
      {"slug": "middle", "depends_on": ["first"]},
      {"slug": "first", "depends_on": []}]'
  )$$,
  'a dependent may be listed before its dependency'
);
select results_eq(
  $$select dep_slug, step_slug from pgflow.deps where flow_slug = 'any_order' order by step_slug$$,
  $$values ('middle', 'last'), ('first', 'middle')$$,
  'the edges are the declared ones'
);

select run_id from pgflow.start_run('any_order', '{"x": 1}') \gset
select results_eq(
  format($$select step_slug from pgflow.step_tasks where run_id = %L$$, :'run_id'),
  $$values ('first')$$,
  'the run starts with the step listed last, the only root'
);
select ok(pgflow_tests.complete(:'run_id', 'first', '"F"'), 'first completes');
select ok(pgflow_tests.complete(:'run_id', 'middle', '"M"'), 'middle completes');
select ok(pgflow_tests.complete(:'run_id', 'last', '"L"'), 'last completes');
select is(pgflow_tests.run_status(:'run_id'), 'completed', 'the run completes');

select finish();
rollback;
