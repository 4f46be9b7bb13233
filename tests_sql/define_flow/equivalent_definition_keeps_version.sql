-- Idempotency compares normalized definitions: the sequential shorthand and the same chain written
-- with explicit depends_on, dependencies listed in another order, and default values spelt out
-- (type single, flow max_attempts 3) are the same definition and keep version 1.
begin;
select plan(4);

select pgflow.define_flow(
  'equivalent',
  '[{"slug": "a"}, {"slug": "b"}, {"slug": "c"}, {"slug": "d"}]'
);
select is(
  (pgflow.define_flow(
    'equivalent',
    '[{"slug": "a", "depends_on": []}, {"slug": "b", "depends_on": ["a"]},
      {"slug": "c", "depends_on": ["b"]}, {"slug": "d", "depends_on": ["c"]}]'
  )).version,
  1,
  'the shorthand chain and the explicit chain are the same definition'
);

select pgflow.define_flow(
  'equivalent_deps',
  '[{"slug": "a"}, {"slug": "b", "depends_on": []}, {"slug": "c", "depends_on": ["a", "b"]}]'
);
select is(
  (pgflow.define_flow(
    'equivalent_deps',
    '[{"slug": "a"}, {"slug": "b", "depends_on": []}, {"slug": "c", "depends_on": ["b", "a"]}]'
  )).version,
  1,
  'the order of a step''s dependencies does not matter'
);
select is(
  (pgflow.define_flow(
    'equivalent_deps',
    '[{"slug": "a", "type": "single"}, {"slug": "b", "depends_on": []}, {"slug": "c", "depends_on": ["a", "b"]}]',
    '{"max_attempts": 3}'
  )).version,
  1,
  'spelling out default values does not matter'
);
select is(
  pgflow_tests.version_count('equivalent') + pgflow_tests.version_count('equivalent_deps'), 2,
  'each flow has one version'
);

select finish();
rollback;
