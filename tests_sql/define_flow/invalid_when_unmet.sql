-- when_unmet must be "skip", "skip-cascade" or "fail": anything else is PF001, and nothing is written.
begin;
select plan(4);

select throws_ok(
  $$select pgflow.define_flow('bad_unmet', '[{"slug": "a", "if": {"x": 1}, "when_unmet": "ignore"}]')$$,
  'PF001', null, 'an unknown mode'
);
select throws_ok(
  $$select pgflow.define_flow('bad_unmet', '[{"slug": "a", "if": {"x": 1}, "when_unmet": "skip_cascade"}]')$$,
  'PF001', null, 'skip_cascade with an underscore'
);
select throws_ok(
  $$select pgflow.define_flow('bad_unmet', '[{"slug": "a", "when_unmet": true}]')$$, 'PF001', null, 'a boolean'
);
select is(pgflow_tests.version_count('bad_unmet'), 0, 'no flow was written');

select finish();
rollback;
