-- add_step's options land as effective values in pgflow.steps: a step without options takes the flow's
-- (from create_flow), a step's own max_attempts, base_delay, timeout and start_delay override them.
begin;
select plan(2);

select pgflow.create_flow('add_opts', 4, 2, 20);
select pgflow.add_step('add_opts', 'plain');
select pgflow.add_step('add_opts', 'tuned', array['plain'], 7, 0, 5, 3);

select results_eq(
  $$select step_type, deps_count, max_attempts, base_delay, max_delay, timeout, start_delay
    from pgflow.steps where flow_slug = 'add_opts' and step_slug = 'plain'$$,
  $$values ('single', 0, 4, 2::numeric, 300::numeric, 20::numeric, 0::numeric)$$,
  'a step without options takes the flow''s'
);
select results_eq(
  $$select step_type, deps_count, max_attempts, base_delay, max_delay, timeout, start_delay
    from pgflow.steps where flow_slug = 'add_opts' and step_slug = 'tuned'$$,
  $$values ('single', 1, 7, 0::numeric, 300::numeric, 5::numeric, 3::numeric)$$,
  'a step''s own options override the flow''s'
);

select finish();
rollback;
