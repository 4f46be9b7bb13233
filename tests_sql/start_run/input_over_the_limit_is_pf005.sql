-- A run input larger than pgflow.max_output_size() is refused with PF005, and no run is created.
begin;
select plan(3);

select pgflow.define_flow('big_input', '[{"slug": "a"}]');
select throws_like(
  $$select pgflow.start_run('big_input', pg_catalog.to_jsonb(repeat('x', pgflow.max_output_size()::int)))$$,
  'start_run: input is % bytes, more than the limit of 67108864 bytes%',
  'an input over the limit raises PF005 with its size'
);
select throws_ok(
  $$select pgflow.start_run('big_input', pg_catalog.to_jsonb(repeat('x', pgflow.max_output_size()::int)))$$,
  'PF005', null, 'with SQLSTATE PF005'
);
select is((select count(*)::int from pgflow.runs where flow_slug = 'big_input'), 0, 'no run was created');

select finish();
rollback;
