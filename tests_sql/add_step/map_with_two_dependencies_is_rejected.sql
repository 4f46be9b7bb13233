-- add_step of a map step with two dependencies is PF001, and the step is not added. With one
-- dependency a map step is accepted.
begin;
select plan(4);

select pgflow.create_flow('add_map_two');
select pgflow.add_step('add_map_two', 'a');
select pgflow.add_step('add_map_two', 'b');

select throws_ok(
  $$select pgflow.add_step('add_map_two', 'each', array['a', 'b'], step_type => 'map')$$, 'PF001', null,
  'a map step with two dependencies is PF001'
);
select is_empty(
  $$select from pgflow.steps where flow_slug = 'add_map_two' and step_slug = 'each'$$, 'the map step was not added'
);
select lives_ok(
  $$select pgflow.add_step('add_map_two', 'each', array['a'], step_type => 'map')$$,
  'a map step with one dependency is accepted'
);
select is(
  (select step_type from pgflow.steps where flow_slug = 'add_map_two' and step_slug = 'each'), 'map',
  'and stored as a map step'
);

select finish();
rollback;
