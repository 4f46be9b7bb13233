-- max_attempts must be an integer >= 1, as a flow option and as a step option: 0, 1.5, -1, the string
-- "3" and true are PF001, and nothing is written. 1 is accepted.
begin;
select plan(11);

select throws_ok(
  $$select pgflow.define_flow('bad_attempts', '[{"slug": "a"}]', '{"max_attempts": 0}')$$, 'PF001', null, 'flow: 0'
);
select throws_ok(
  $$select pgflow.define_flow('bad_attempts', '[{"slug": "a"}]', '{"max_attempts": 1.5}')$$, 'PF001', null, 'flow: 1.5'
);
select throws_ok(
  $$select pgflow.define_flow('bad_attempts', '[{"slug": "a"}]', '{"max_attempts": -1}')$$, 'PF001', null, 'flow: -1'
);
select throws_ok(
  $$select pgflow.define_flow('bad_attempts', '[{"slug": "a"}]', '{"max_attempts": "3"}')$$,
  'PF001', null, 'flow: the string "3"'
);
select throws_ok(
  $$select pgflow.define_flow('bad_attempts', '[{"slug": "a", "max_attempts": 0}]')$$, 'PF001', null, 'step: 0'
);
select throws_ok(
  $$select pgflow.define_flow('bad_attempts', '[{"slug": "a", "max_attempts": 1.5}]')$$, 'PF001', null, 'step: 1.5'
);
select throws_ok(
  $$select pgflow.define_flow('bad_attempts', '[{"slug": "a", "max_attempts": "3"}]')$$,
  'PF001', null, 'step: the string "3"'
);
select throws_ok(
  $$select pgflow.define_flow('bad_attempts', '[{"slug": "a", "max_attempts": true}]')$$, 'PF001', null, 'step: true'
);
select is(pgflow_tests.version_count('bad_attempts'), 0, 'no flow was written');

select lives_ok(
  $$select pgflow.define_flow('one_attempt', '[{"slug": "a", "max_attempts": 1}]', '{"max_attempts": 1}')$$,
  'max_attempts 1 is accepted'
);
select is(
  (select max_attempts from pgflow.steps where flow_slug = 'one_attempt'), 1, 'and stored'
);

select finish();
rollback;
