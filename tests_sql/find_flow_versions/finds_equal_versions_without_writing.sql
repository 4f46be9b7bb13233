-- find_flow_versions returns the versions whose definition equals the given one (current first, then newest
-- first), [] for a definition or flow it does not know, and writes nothing; bad definitions are PF001.
begin;
select plan(7);

select pgflow.define_flow('found', '[{"slug": "a"}]');
select pgflow.define_flow('found', '[{"slug": "a"}, {"slug": "b"}]');

select is(pgflow.find_flow_versions('found', '[{"slug": "a"}]'), array[1], 'version 1 has this definition');
select is(
  pgflow.find_flow_versions('found', '[{"slug": "a"}, {"slug": "b", "depends_on": ["a"]}]'), array[2],
  'version 2 has this one (the sequential shorthand written out)'
);
select is(pgflow.find_flow_versions('found', '[{"slug": "c"}]'), '{}'::int[], 'no version has this one');
select is(pgflow.find_flow_versions('never_defined', '[{"slug": "a"}]'), '{}'::int[], 'an unknown flow has none');
select is(pgflow_tests.version_count('found'), 2, 'nothing was written');
select is(
  (select count(*)::int from pgflow.locks where name = 'flow:never_defined'), 0, 'not even a lock row'
);
select throws_ok(
  $$select pgflow.find_flow_versions('found', '[{"slug": "a", "kind": "x"}]')$$,
  'PF001', null, 'a bad definition is PF001, as define_flow says'
);

select finish();
rollback;
