-- A step type other than "single", "map" or "wait" is PF001, and nothing is written.
begin;
select plan(5);

select throws_ok(
  $$select pgflow.define_flow('bad_type', '[{"slug": "a", "type": "parallel"}]')$$, 'PF001', null, 'an unknown type'
);
select throws_ok(
  $$select pgflow.define_flow('bad_type', '[{"slug": "a", "type": ""}]')$$, 'PF001', null, 'an empty type'
);
select throws_ok(
  $$select pgflow.define_flow('bad_type', '[{"slug": "a", "type": 1}]')$$, 'PF001', null, 'a number as type'
);
select throws_ok(
  $$select pgflow.define_flow('bad_type', '[{"slug": "a", "type": ["map"]}]')$$, 'PF001', null, 'an array as type'
);
select is(pgflow_tests.version_count('bad_type'), 0, 'no flow was written');

select finish();
rollback;
