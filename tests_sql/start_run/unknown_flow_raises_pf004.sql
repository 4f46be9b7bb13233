-- start_run on a flow that was never defined raises PF004 and creates nothing.
begin;
select plan(2);

select throws_ok(
  $$select pgflow.start_run('unknown_flow_never_defined', '{}')$$,
  'PF004', null,
  'an unknown flow raises PF004'
);
select is(
  (select count(*)::int from pgflow.runs where flow_slug = 'unknown_flow_never_defined'), 0,
  'no run is created'
);

select finish();
rollback;
