-- create_flow and add_step accept named notation with pgflow's parameter names.
begin;
select plan(4);

select lives_ok(
  $$select pgflow.create_flow(flow_slug => 'named_add', max_attempts => 2, timeout => 30)$$,
  'create_flow with named arguments'
);
select lives_ok(
  $$select pgflow.add_step(flow_slug => 'named_add', step_slug => 'a')$$, 'add_step with a flow and a step slug'
);
select lives_ok(
  $$select pgflow.add_step(
    flow_slug => 'named_add', step_slug => 'b', deps_slugs => array['a'], step_type => 'map', start_delay => 4
  )$$,
  'add_step with deps_slugs, step_type and start_delay'
);
select results_eq(
  $$select s.step_slug, s.step_type, s.max_attempts, s.timeout, s.start_delay, d.dep_slug
    from pgflow.steps as s
    left join pgflow.deps as d using (flow_slug, flow_version, step_slug)
    where s.flow_slug = 'named_add' order by s.step_index$$,
  $$values ('a', 'single', 2, 30::numeric, 0::numeric, null),
           ('b', 'map', 2, 30::numeric, 4::numeric, 'a')$$,
  'the named arguments land where they belong'
);

select finish();
rollback;
