-- A flow option other than max_attempts, base_delay, max_delay and timeout is PF001 (start_delay is
-- step-only), options that are not a JSON object are PF001, and nothing is written.
begin;
select plan(5);

select throws_ok(
  $$select pgflow.define_flow('unknown_opt', '[{"slug": "a"}]', '{"retries": 3}')$$, 'PF001', null, 'an unknown option'
);
select throws_ok(
  $$select pgflow.define_flow('unknown_opt', '[{"slug": "a"}]', '{"start_delay": 5}')$$,
  'PF001', null, 'start_delay is not a flow option'
);
select throws_ok(
  $$select pgflow.define_flow('unknown_opt', '[{"slug": "a"}]', '{"max_attempts": 2, "type": "map"}')$$,
  'PF001', null, 'an unknown option next to a valid one'
);
select throws_ok(
  $$select pgflow.define_flow('unknown_opt', '[{"slug": "a"}]', '[{"max_attempts": 2}]')$$,
  'PF001', null, 'options that are an array'
);
select is(pgflow_tests.version_count('unknown_opt'), 0, 'no flow was written');

select finish();
rollback;
