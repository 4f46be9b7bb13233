-- A new version's conditions must be able to match the input they are matched against (PF001, naming the
-- step and the bad key otherwise): a dependent single step's pattern is an object keyed by its dependencies;
-- a map step's pattern is an array or a scalar (matched against the array it maps over); a root single
-- step's pattern is any JSON (matched against the run input). Nothing is written for a refused definition.
begin;
select plan(11);

select throws_ok(
  $$select pgflow.define_flow(
    'cond_check', '[{"slug": "a"}, {"slug": "b", "depends_on": ["a"], "if": {"A": {"x": 1}}}]'
  )$$,
  'PF001',
  'flow ''cond_check'', step ''b'': condition if has the key(s) ''A'', which name no dependency of the step, so it '
  'could never match (its input is {dependency: output} over the dependencies ''a'')',
  'a key that is no dependency (a wrong case) is PF001 naming the step and the key'
);
select throws_ok(
  $$select pgflow.define_flow('cond_check', '[{"slug": "a"}, {"slug": "b", "depends_on": ["a"], "if": "big"}]')$$,
  'PF001',
  'flow ''cond_check'', step ''b'': condition if must be a JSON object keyed by the step''s dependencies (''a''), as '
  'its input is {dependency: output}; got ''"big"''',
  'a scalar pattern on a dependent step is PF001'
);
select throws_ok(
  $$select pgflow.define_flow('cond_check',
    '[{"slug": "a"}, {"slug": "c"}, {"slug": "b", "depends_on": ["a", "c"], "if_not": [{"a": 1}]}]')$$,
  'PF001', null, 'an array pattern on a dependent step is PF001 (if_not too)'
);
select throws_ok(
  $$select pgflow.define_flow('cond_check',
    '[{"slug": "a"}, {"slug": "b", "depends_on": ["a"], "if": {"a": 1}, "if_not": {"z": 1, "y": 2}}]')$$,
  'PF001',
  'flow ''cond_check'', step ''b'': condition if_not has the key(s) ''y, z'', which name no dependency of the step, '
  'so it could never match (its input is {dependency: output} over the dependencies ''a'')',
  'every bad key is named'
);
select throws_ok(
  $$select pgflow.define_flow('cond_check', '[{"slug": "list"}, {"slug": "each", "type": "map", "if": {"a": 1}}]')$$,
  'PF001',
  'flow ''cond_check'', step ''each'': condition if is matched against the array the map step maps over, so it must '
  'be a JSON array (elements the array must contain) or a scalar (an element it must hold), got ''{"a": 1}''',
  'an object pattern on a map step is PF001 (the sequential shorthand makes it depend on list)'
);
select is(pgflow_tests.version_count('cond_check'), 0, 'nothing was written');

select lives_ok(
  $$select pgflow.define_flow('cond_ok',
    '[{"slug": "root", "depends_on": [], "if": "big"},
      {"slug": "root_obj", "depends_on": [], "if": {"kind": "x"}, "if_not": [1]},
      {"slug": "b", "depends_on": ["root", "root_obj"], "if": {"root": {"n": 1}}, "if_not": {}},
      {"slug": "each", "type": "map", "depends_on": ["b"], "if": [1], "if_not": 3},
      {"slug": "top_map", "type": "map", "depends_on": [], "if": "x"}]')$$,
  'root patterns of any JSON, dependent patterns keyed by dependencies, map patterns arrays or scalars are accepted'
);

-- what they do at run time
select pgflow.define_flow(
  'cond_scalar_root', '[{"slug": "big_only", "if": "big"}, {"slug": "after", "depends_on": ["big_only"]}]'
);
select run_id as big_run from pgflow.start_run('cond_scalar_root', '"big"') \gset
select run_id as small_run from pgflow.start_run('cond_scalar_root', '"small"') \gset
select is(pgflow_tests.step_status(:'big_run', 'big_only'), 'started', 'a scalar pattern matches an equal input');
select is(pgflow_tests.step_status(:'small_run', 'big_only'), 'skipped', 'and not another one');

select pgflow.define_flow(
  'cond_map_pattern',
  '[{"slug": "list"}, {"slug": "each", "type": "map", "depends_on": ["list"], "if": 2}]'
);
select run_id as with_two from pgflow.start_run('cond_map_pattern') \gset
select pgflow_tests.complete(:'with_two', 'list', '[1, 2, 3]');
select is(
  pgflow_tests.step_status(:'with_two', 'each'), 'started', 'a scalar pattern on a map step: the array holds it'
);
select run_id as without_two from pgflow.start_run('cond_map_pattern') \gset
select pgflow_tests.complete(:'without_two', 'list', '[1, 3]');
select is(pgflow_tests.step_status(:'without_two', 'each'), 'skipped', 'the array does not hold it: skipped');

select finish();
rollback;
