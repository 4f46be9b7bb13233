-- add_step on a flow that does not exist is PF004, and nothing is written.
begin;
select plan(2);

select throws_ok($$select pgflow.add_step('no_such_flow', 'a')$$, 'PF004', null, 'an unknown flow is PF004');
select is(
  (select count(*)::int from pgflow.steps where flow_slug = 'no_such_flow')
  + pgflow_tests.version_count('no_such_flow'),
  0,
  'nothing was written'
);

select finish();
rollback;
