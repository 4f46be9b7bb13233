-- As soon as one step has a depends_on key, a step without the key has no dependencies (not the
-- step before it): in [a, b after a, c] step c is a root that starts with a.
begin;
select plan(3);

select pgflow.define_flow(
  'missing_deps_empty',
  '[{"slug": "a"}, {"slug": "b", "depends_on": ["a"]}, {"slug": "c"}]'
);

select results_eq(
  $$select dep_slug, step_slug from pgflow.deps where flow_slug = 'missing_deps_empty'$$,
  $$values ('a', 'b')$$,
  'the only edge is the declared one: c does not depend on b'
);
select is(
  (select deps_count from pgflow.steps where flow_slug = 'missing_deps_empty' and step_slug = 'c'), 0,
  'c has no dependencies'
);

select run_id from pgflow.start_run('missing_deps_empty') \gset
select set_eq(
  format($$select step_slug from pgflow.step_tasks where run_id = %L$$, :'run_id'),
  array['a', 'c'],
  'a run starts both roots a and c'
);

select finish();
rollback;
