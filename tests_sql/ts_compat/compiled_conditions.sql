-- Conditions as pgflow's compiler writes them (required_input_pattern / forbidden_input_pattern as untyped JSON
-- literals, when_unmet as pgflow spells it): a dependent step's pattern is matched against {dependency: output},
-- a root step's against the run input; unmet, 'skip' (the default) skips the step, 'skip-cascade' the step and
-- what is downstream of it, 'fail' fails the run.
begin;
select plan(10);

select lives_ok(
  $sql$
SELECT pgflow.create_flow('ts_conditions');
SELECT pgflow.add_step('ts_conditions', 'classify');
SELECT pgflow.add_step('ts_conditions', 'premium', ARRAY['classify'], required_input_pattern => '{"classify":{"tier":"premium"}}');
SELECT pgflow.add_step('ts_conditions', 'basic', ARRAY['classify'], forbidden_input_pattern => '{"classify":{"tier":"premium"}}', when_unmet => 'skip-cascade');
SELECT pgflow.add_step('ts_conditions', 'basic_mail', ARRAY['basic']);
SELECT pgflow.add_step('ts_conditions', 'notify', ARRAY['classify', 'premium']);
SELECT pgflow.create_flow('ts_root_condition');
SELECT pgflow.add_step('ts_root_condition', 'audit', required_input_pattern => '{"audit":true}', when_unmet => 'fail');
SELECT pgflow.add_step('ts_root_condition', 'work');
  $sql$,
  'the compiled statements run'
);
select results_eq(
  $$select step_slug, condition_if, condition_if_not, when_unmet from pgflow.steps
    where flow_slug = 'ts_conditions' and step_slug in ('premium', 'basic') order by step_index$$,
  $$values ('premium', '{"classify": {"tier": "premium"}}'::jsonb, null::jsonb, 'skip'),
           ('basic', null, '{"classify": {"tier": "premium"}}'::jsonb, 'skip-cascade')$$,
  'the patterns are stored as the step''s if and if_not, when_unmet as given or skip'
);

-- a premium customer: premium runs; basic (its forbidden pattern matched) is skipped with what is downstream
select run_id as premium_run from pgflow.start_flow('ts_conditions', '{"customer": 1}') \gset
select pgflow_tests.complete(:'premium_run', 'classify', '{"tier": "premium", "id": 1}');
select results_eq(
  format($$select step_slug, status from pgflow.step_states where run_id = %L order by step_slug$$, :'premium_run'),
  $$values ('basic', 'skipped'), ('basic_mail', 'skipped'), ('classify', 'completed'), ('notify', 'created'),
           ('premium', 'started')$$,
  'premium: basic and basic_mail are skipped, premium runs'
);
select pgflow_tests.complete(:'premium_run', 'premium', '"gold"');
select is(
  (select input from pgflow_tests.claim(:'premium_run', 'notify')),
  '{"classify": {"tier": "premium", "id": 1}, "premium": "gold"}'::jsonb,
  'notify runs after premium'
);

-- a basic customer: premium is skipped (skip, the default), the basic branch runs
select run_id as basic_run from pgflow.start_flow('ts_conditions', '{"customer": 2}') \gset
select pgflow_tests.complete(:'basic_run', 'classify', '{"tier": "basic"}');
select is(pgflow_tests.step_status(:'basic_run', 'premium'), 'skipped', 'basic: premium is skipped');
select is(
  (select input from pgflow_tests.claim(:'basic_run', 'notify')), '{"classify": {"tier": "basic"}}'::jsonb,
  'basic: notify runs without its skipped dependency'
);
select pgflow_tests.complete(:'basic_run', 'basic', '1');
select pgflow_tests.complete(:'basic_run', 'basic_mail', '"sent"');

-- a root condition with when_unmet 'fail' reads the run input
select run_id as audited from pgflow.start_flow('ts_root_condition', '{"audit": true, "n": 1}') \gset
select is(pgflow_tests.step_status(:'audited', 'audit'), 'started', 'a root condition met by the run input');
select run_id as unaudited from pgflow.start_flow('ts_root_condition', '{"audit": false}') \gset
select is(pgflow_tests.run_status(:'unaudited'), 'failed', 'an unmet root condition with fail fails the run');
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'unaudited' and status in ('queued', 'started')), 0,
  'the failed run leaves no task to claim'
);
select matches(
  (select error from pgflow.runs where run_id = :'unaudited'), 'audit', 'the run''s error names the step'
);

select finish();
rollback;
