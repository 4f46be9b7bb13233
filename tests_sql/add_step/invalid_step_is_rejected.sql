-- add_step validates like define_flow: a bad step slug, a bad option or type is PF001, and the step is
-- not added.
begin;
select plan(5);

select pgflow.create_flow('add_invalid');
select throws_ok($$select pgflow.add_step('add_invalid', '1st')$$, 'PF001', null, 'a step slug starting with a digit');
select throws_ok(
  $$select pgflow.add_step('add_invalid', 'a', max_attempts => -1)$$, 'PF001', null, 'max_attempts -1'
);
select throws_ok($$select pgflow.add_step('add_invalid', 'a', timeout => 0)$$, 'PF001', null, 'timeout 0');
select throws_ok($$select pgflow.add_step('add_invalid', 'a', step_type => 'fanout')$$, 'PF001', null, 'a bad type');
select is_empty($$select from pgflow.steps where flow_slug = 'add_invalid'$$, 'no step was added');

select finish();
rollback;
