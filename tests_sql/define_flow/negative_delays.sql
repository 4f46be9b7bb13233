-- Delays are seconds >= 0: a negative base_delay, max_delay (flow or step) or start_delay is PF001, and
-- nothing is written; so is a delay given as a string. 0 is accepted.
begin;
select plan(9);

select throws_ok(
  $$select pgflow.define_flow('bad_delays', '[{"slug": "a"}]', '{"base_delay": -1}')$$,
  'PF001', null, 'flow: base_delay -1'
);
select throws_ok(
  $$select pgflow.define_flow('bad_delays', '[{"slug": "a"}]', '{"max_delay": -0.5}')$$,
  'PF001', null, 'flow: max_delay -0.5'
);
select throws_ok(
  $$select pgflow.define_flow('bad_delays', '[{"slug": "a", "base_delay": -2}]')$$, 'PF001', null, 'step: base_delay -2'
);
select throws_ok(
  $$select pgflow.define_flow('bad_delays', '[{"slug": "a", "max_delay": -1}]')$$, 'PF001', null, 'step: max_delay -1'
);
select throws_ok(
  $$select pgflow.define_flow('bad_delays', '[{"slug": "a", "start_delay": -1}]')$$,
  'PF001', null, 'step: start_delay -1'
);
select throws_ok(
  $$select pgflow.define_flow('bad_delays', '[{"slug": "a", "start_delay": "5"}]')$$,
  'PF001', null, 'step: start_delay as a string'
);
select is(pgflow_tests.version_count('bad_delays'), 0, 'no flow was written');

select lives_ok(
  $$select pgflow.define_flow(
    'zero_delays', '[{"slug": "a", "start_delay": 0, "max_delay": 0}]', '{"base_delay": 0, "max_delay": 0}'
  )$$,
  'zero delays are accepted'
);
select results_eq(
  $$select base_delay, max_delay, start_delay from pgflow.steps where flow_slug = 'zero_delays'$$,
  $$values (0::numeric, 0::numeric, 0::numeric)$$,
  'and stored'
);

select finish();
rollback;
