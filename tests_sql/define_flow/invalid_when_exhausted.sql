-- when_exhausted must be "fail", "skip" or "skip-cascade": anything else is PF001, and nothing is written.
begin;
select plan(4);

select throws_ok(
  $$select pgflow.define_flow('bad_exhausted', '[{"slug": "a", "when_exhausted": "retry"}]')$$,
  'PF001', null, 'an unknown mode'
);
select throws_ok(
  $$select pgflow.define_flow('bad_exhausted', '[{"slug": "a", "when_exhausted": "FAIL"}]')$$,
  'PF001', null, 'a mode in capitals'
);
select throws_ok(
  $$select pgflow.define_flow('bad_exhausted', '[{"slug": "a", "when_exhausted": 0}]')$$, 'PF001', null, 'a number'
);
select is(pgflow_tests.version_count('bad_exhausted'), 0, 'no flow was written');

select finish();
rollback;
