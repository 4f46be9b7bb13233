-- Flow options apply to every step that does not override them; a step's own value overrides the flow's.
-- pgflow.steps holds the effective values.
begin;
select plan(3);

select pgflow.define_flow(
  'effective_opts',
  '[{"slug": "plain"},
    {"slug": "tuned", "max_attempts": 1, "base_delay": 0.5, "max_delay": 10, "timeout": 2.5, "start_delay": 7},
    {"slug": "partly", "timeout": 120}]',
  '{"max_attempts": 5, "base_delay": 2, "max_delay": 100, "timeout": 30}'
);

select results_eq(
  $$select max_attempts, base_delay, max_delay, timeout, start_delay
    from pgflow.steps where flow_slug = 'effective_opts' and step_slug = 'plain'$$,
  $$values (5, 2::numeric, 100::numeric, 30::numeric, 0::numeric)$$,
  'a step without overrides takes the flow options (start_delay 0)'
);
select results_eq(
  $$select max_attempts, base_delay, max_delay, timeout, start_delay
    from pgflow.steps where flow_slug = 'effective_opts' and step_slug = 'tuned'$$,
  $$values (1, 0.5::numeric, 10::numeric, 2.5::numeric, 7::numeric)$$,
  'a step''s own values override the flow options'
);
select results_eq(
  $$select max_attempts, base_delay, max_delay, timeout, start_delay
    from pgflow.steps where flow_slug = 'effective_opts' and step_slug = 'partly'$$,
  $$values (5, 2::numeric, 100::numeric, 120::numeric, 0::numeric)$$,
  'a step overriding one option keeps the flow''s other options'
);

select finish();
rollback;
