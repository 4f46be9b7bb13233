-- Definitions: an unknown child flow is PF004; options that mean nothing for a sub-flow step are PF001; a bad "flow"
-- is PF001; the "flow" key is in the normalized definition only when present (other definitions are unchanged);
-- the step's timeout is stored null unless the step sets it.
begin;
select plan(8);

select throws_ok(
  $$select pgflow.define_flow('sf_p', '[{"slug": "sub", "flow": "nowhere"}]')$$, 'PF004',
  'flow ''sf_p'': sub-flow step(s) name flow(s) ''nowhere'', which do not exist; define the child flows first',
  'an unknown child flow is PF004'
);
select pgflow.define_flow('sf_c', '[{"slug": "c"}]');
select throws_like(
  $$select pgflow.define_flow('sf_p', '[{"slug": "sub", "flow": "sf_c", "base_delay": 1}]')$$,
  '%option(s) base_delay mean nothing for a sub-flow step%', 'base_delay is refused (PF001)'
);
select throws_ok(
  $$select pgflow.define_flow('sf_p', '[{"slug": "sub", "flow": "sf_c", "concurrency": 2, "start_delay": 1}]')$$,
  'PF001', null, 'concurrency and start_delay are refused'
);
select throws_ok(
  $$select pgflow.define_flow('sf_p', '[{"slug": "sub", "flow": 3}]')$$, 'PF001', null,
  'a flow that is not a slug is refused'
);
select throws_ok(
  $$select pgflow.define_flow('sf_p', '[{"slug": "sub", "flow": "sf_c", "type": "wait"}]')$$, 'PF001',
  null, 'type must still be single or map'
);

select pgflow.define_flow(
  'sf_p', '[{"slug": "sub", "flow": "sf_c", "max_attempts": 4, "timeout": 9}, {"slug": "plain"}]'
);
select is(
  (select array_agg(s.step ? 'flow' order by s.step ->> 'slug') from pgflow.flows as f,
    jsonb_array_elements(f.definition -> 'steps') as s (step)
  where f.flow_slug = 'sf_p'),
  array[false, true], 'only the sub-flow step has the key "flow" in the normalized definition'
);
select is(
  (
    select array[max_attempts::text, timeout::text, subflow_slug]
    from pgflow.steps
    where flow_slug = 'sf_p' and step_slug = 'sub'
  ),
  array['4', '9', 'sf_c'], 'max_attempts and timeout are kept; subflow_slug stored'
);
select is(
  (
    select version
    from
      pgflow.define_flow(
        'sf_p', '[{"slug": "sub", "flow": "sf_c", "max_attempts": 4, "timeout": 9}, {"slug": "plain"}]'
      )
  ),
  1, 'the same definition is the same version'
);

select finish();
rollback;
