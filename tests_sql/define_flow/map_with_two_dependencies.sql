-- A map step maps over one dependency's output: with two dependencies it is PF001 and nothing is
-- written. A map with one dependency, and a root map, are accepted.
begin;
select plan(4);

select throws_ok(
  $$select pgflow.define_flow(
    'map_two_deps',
    '[{"slug": "a", "depends_on": []}, {"slug": "b", "depends_on": []},
      {"slug": "each", "type": "map", "depends_on": ["a", "b"]}]'
  )$$,
  'PF001', null, 'a map step with two dependencies is rejected'
);
select is(pgflow_tests.version_count('map_two_deps'), 0, 'no flow was written');

select lives_ok(
  $$select pgflow.define_flow(
    'map_one_dep', '[{"slug": "a", "depends_on": []}, {"slug": "each", "type": "map", "depends_on": ["a"]}]'
  )$$,
  'a map step with one dependency is accepted'
);
select lives_ok(
  $$select pgflow.define_flow('map_root', '[{"slug": "each", "type": "map"}]')$$,
  'a root map step is accepted'
);

select finish();
rollback;
