-- timeout is seconds > 0: 0, a negative value or a string (flow or step) is PF001, and nothing is written.
-- A fractional timeout is accepted.
begin;
select plan(8);

select throws_ok(
  $$select pgflow.define_flow('bad_timeout', '[{"slug": "a"}]', '{"timeout": 0}')$$, 'PF001', null, 'flow: 0'
);
select throws_ok(
  $$select pgflow.define_flow('bad_timeout', '[{"slug": "a"}]', '{"timeout": -5}')$$, 'PF001', null, 'flow: -5'
);
select throws_ok(
  $$select pgflow.define_flow('bad_timeout', '[{"slug": "a", "timeout": 0}]')$$, 'PF001', null, 'step: 0'
);
select throws_ok(
  $$select pgflow.define_flow('bad_timeout', '[{"slug": "a", "timeout": -0.1}]')$$, 'PF001', null, 'step: -0.1'
);
select throws_ok(
  $$select pgflow.define_flow('bad_timeout', '[{"slug": "a", "timeout": "60"}]')$$, 'PF001', null, 'step: "60"'
);
select is(pgflow_tests.version_count('bad_timeout'), 0, 'no flow was written');

select lives_ok(
  $$select pgflow.define_flow('small_timeout', '[{"slug": "a", "timeout": 0.25}]')$$, 'a timeout of 0.25 s is accepted'
);
select is(
  (select timeout from pgflow.steps where flow_slug = 'small_timeout'), 0.25::numeric, 'and stored'
);

select finish();
rollback;
