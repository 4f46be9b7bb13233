-- Without options, the defaults of SPEC section 2 land in pgflow.flows and, as effective values, in
-- pgflow.steps: max_attempts 3, base_delay 1, max_delay 300, timeout 60, start_delay 0; a step is
-- single, skipped when its condition is unmet and failing when exhausted.
begin;
select plan(2);

select pgflow.define_flow('defaults', '[{"slug": "a"}, {"slug": "b"}]');

select results_eq(
  $$select max_attempts, base_delay, max_delay, timeout from pgflow.flows where flow_slug = 'defaults'$$,
  $$values (3, 1::numeric, 300::numeric, 60::numeric)$$,
  'the flow gets the default options'
);
select results_eq(
  $$select step_slug, step_type, max_attempts, base_delay, max_delay, timeout, start_delay, when_unmet, when_exhausted
    from pgflow.steps where flow_slug = 'defaults' order by step_slug$$,
  $$values ('a', 'single', 3, 1::numeric, 300::numeric, 60::numeric, 0::numeric, 'skip', 'fail'),
           ('b', 'single', 3, 1::numeric, 300::numeric, 60::numeric, 0::numeric, 'skip', 'fail')$$,
  'every step gets the default effective options and modes'
);

select finish();
rollback;
