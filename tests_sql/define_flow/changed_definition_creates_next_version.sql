-- A changed definition creates the next version: a new step, a changed flow option, a changed
-- dependency, a changed step option, a changed type. Versions are matched by content: going back to the
-- first definition returns version 1 and creates nothing. Old versions stay as they were.
begin;
select plan(10);

select is(
  (pgflow.define_flow('changing', '[{"slug": "a"}, {"slug": "b"}]')).version, 1, 'the first definition is version 1'
);
select is(
  (pgflow.define_flow('changing', '[{"slug": "a"}, {"slug": "b"}, {"slug": "c"}]')).version, 2,
  'a new step creates version 2'
);
select is(
  (pgflow.define_flow('changing', '[{"slug": "a"}, {"slug": "b"}, {"slug": "c"}]', '{"timeout": 10}')).version, 3,
  'a changed flow option creates version 3'
);
select is(
  (pgflow.define_flow(
    'changing',
    '[{"slug": "a", "depends_on": []}, {"slug": "b", "depends_on": ["a"]}, {"slug": "c", "depends_on": ["a"]}]',
    '{"timeout": 10}'
  )).version,
  4,
  'a changed dependency creates version 4'
);
select is(
  (pgflow.define_flow(
    'changing',
    '[{"slug": "a", "depends_on": []}, {"slug": "b", "depends_on": ["a"]},
      {"slug": "c", "depends_on": ["a"], "max_attempts": 9}]',
    '{"timeout": 10}'
  )).version,
  5,
  'a changed step option creates version 5'
);
select is(
  (pgflow.define_flow(
    'changing',
    '[{"slug": "a", "depends_on": []}, {"slug": "b", "depends_on": ["a"]},
      {"slug": "c", "depends_on": ["a"], "max_attempts": 9, "type": "map"}]',
    '{"timeout": 10}'
  )).version,
  6,
  'a changed step type creates version 6'
);
select is(
  (pgflow.define_flow('changing', '[{"slug": "a"}, {"slug": "b"}]')).version, 1,
  'going back to the first definition returns version 1'
);
select results_eq(
  $$select version from pgflow.flows where flow_slug = 'changing' order by version$$,
  $$select generate_series(1, 6)$$,
  'versions 1 to 6 exist, no more'
);
select results_eq(
  $$select flow_version, dep_slug, step_slug from pgflow.deps where flow_slug = 'changing' and flow_version in (1, 4)
    order by flow_version, step_slug$$,
  $$values (1, 'a', 'b'), (4, 'a', 'b'), (4, 'a', 'c')$$,
  'each version keeps its own dependencies'
);
select results_eq(
  $$select flow_version, max_attempts, timeout, step_type from pgflow.steps
    where flow_slug = 'changing' and step_slug = 'c' order by flow_version$$,
  $$values (2, 3, 60::numeric, 'single'), (3, 3, 10::numeric, 'single'), (4, 3, 10::numeric, 'single'),
           (5, 9, 10::numeric, 'single'), (6, 9, 10::numeric, 'map')$$,
  'each version keeps its own step options'
);

select finish();
rollback;
