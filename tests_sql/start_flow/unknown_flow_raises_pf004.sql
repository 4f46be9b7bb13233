-- start_flow on a flow that was never defined raises PF004, like start_run, and creates nothing.
begin;
select plan(2);

select throws_ok(
  $$select * from pgflow.start_flow('start_flow_never_defined', '{}')$$,
  'PF004', null,
  'an unknown flow raises PF004'
);
select is(
  (select count(*)::int from pgflow.runs where flow_slug = 'start_flow_never_defined'), 0, 'no run is created'
);

select finish();
rollback;
