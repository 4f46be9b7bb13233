-- What add_step and create_flow refuse, with the engine's error codes, and nothing written: modes spelled other
-- than pgflow spells them, patterns that are not objects or that no input could match, unknown dependencies and
-- flows, a changed step, a version with runs.
begin;
select plan(15);

select pgflow.create_flow('ts_refusals');
select pgflow.add_step('ts_refusals', 'first');

select throws_ok(
  $$SELECT pgflow.add_step('ts_refusals', 'a', ARRAY['first'], when_unmet => 'skip_cascade')$$, 'PF001', null,
  'when_unmet skip_cascade (pgflow spells it skip-cascade)'
);
select throws_ok(
  $$SELECT pgflow.add_step('ts_refusals', 'a', when_exhausted => 'retry')$$, 'PF001', null, 'when_exhausted retry'
);
select throws_ok(
  $$SELECT pgflow.add_step('ts_refusals', 'a', required_input_pattern => '[]')$$, 'PF001',
  'add_step: flow ''ts_refusals'', step ''a'': required_input_pattern must be a JSON object (a containment pattern over the step''s input), got ''[]''', -- noqa: LT05
  'a pattern that is not an object, named in the message'
);
select throws_ok(
  $$SELECT pgflow.add_step('ts_refusals', 'a', forbidden_input_pattern => '"x"')$$, 'PF001', null,
  'a string forbidden_input_pattern'
);
select throws_ok(
  $$SELECT pgflow.add_step('ts_refusals', 'a', ARRAY['first'], required_input_pattern => '{"other":{"x":1}}')$$,
  'PF001', null, 'a dependent step''s pattern keyed by a step it does not depend on'
);
select throws_ok(
  $$SELECT pgflow.add_step('ts_refusals', 'a', required_input_pattern => '{"x":1}', step_type => 'map')$$,
  'PF001', null, 'a pattern on a root map (its input is an array)'
);
select throws_ok(
  $$SELECT pgflow.add_step('ts_refusals', 'a', ARRAY['first'], required_input_pattern => '{"first":"x"}', step_type => 'map')$$, -- noqa: LT05
  'PF001', null, 'a map pattern with no array under its dependency'
);
select throws_ok(
  $$SELECT pgflow.add_step('ts_refusals', 'a', ARRAY['first', 'missing', 'gone'])$$, 'PF002', null,
  'unknown dependencies'
);
select throws_ok(
  $$SELECT pgflow.add_step('ts_nowhere', 'a')$$, 'PF004', null, 'a flow that does not exist'
);
select throws_ok(
  $$SELECT pgflow.add_step('ts_refusals', 'first', max_attempts => -1)$$, 'PF001', null, 'a negative max_attempts'
);
select is_empty(
  $$select from pgflow.steps where flow_slug = 'ts_refusals' and step_slug <> 'first'$$, 'no step was added'
);

select pgflow.add_step('ts_refusals', 'gate', array['first'], required_input_pattern => '{"first":{"ok":true}}');
select lives_ok(
  $$SELECT pgflow.add_step('ts_refusals', 'gate', ARRAY['first'], required_input_pattern => '{"first":{"ok":true}}')$$,
  'the same step again is a no-op'
);
select throws_ok(
  $$SELECT pgflow.add_step('ts_refusals', 'gate', ARRAY['first'], required_input_pattern => '{"first":{"ok":false}}')$$,
  'PF001', null, 'the step again with another condition'
);

select pgflow.start_flow('ts_refusals', '{}');
select throws_ok(
  $$SELECT pgflow.add_step('ts_refusals', 'late', ARRAY['first'])$$, 'PF008', null,
  'a step added to a version that has runs'
);
select is(
  (select count(*)::int from pgflow.steps where flow_slug = 'ts_refusals'), 2, 'the flow keeps its two steps'
);

select finish();
rollback;
