-- A step with a key the SPEC does not list is PF001 (a typo must not be silently ignored), and nothing
-- is written.
begin;
select plan(4);

select throws_ok(
  $$select pgflow.define_flow('unknown_key', '[{"slug": "a", "retries": 3}]')$$, 'PF001', null, 'an unknown key'
);
select throws_ok(
  $$select pgflow.define_flow('unknown_key', '[{"slug": "a"}, {"slug": "b", "dependsOn": ["a"]}]')$$,
  'PF001', null, 'a misspelt depends_on'
);
select throws_ok(
  $$select pgflow.define_flow('unknown_key', '[{"slug": "a", "maxAttempts": 2}]')$$,
  'PF001', null, 'a misspelt option'
);
select is(pgflow_tests.version_count('unknown_key'), 0, 'no flow was written');

select finish();
rollback;
