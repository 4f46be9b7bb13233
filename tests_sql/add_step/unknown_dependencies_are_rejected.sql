-- add_step with dependencies that do not exist (yet) is PF002, the message naming every unknown one,
-- and the step is not added.
begin;
select plan(5);

select pgflow.create_flow('add_unknown');
select pgflow.add_step('add_unknown', 'a');

select throws_ok(
  $$select pgflow.add_step('add_unknown', 'b', array['a', 'ghost', 'phantom'])$$, 'PF002', null,
  'unknown dependencies are PF002'
);
select pgflow_tests.error_message(
  $$select pgflow.add_step('add_unknown', 'b', array['a', 'ghost', 'phantom'])$$
) as msg \gset
select matches(:'msg'::text, '\mghost\M', 'the message names ghost');
select matches(:'msg'::text, '\mphantom\M', 'the message names phantom');
select results_eq(
  $$select step_slug from pgflow.steps where flow_slug = 'add_unknown'$$, $$values ('a')$$, 'b was not added'
);
select is_empty($$select from pgflow.deps where flow_slug = 'add_unknown'$$, 'no dependency was added');

select finish();
rollback;
