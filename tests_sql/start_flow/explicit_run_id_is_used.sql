-- start_flow with its third argument run_id (positional or named) uses that id for the run.
begin;
select plan(3);

select pgflow.define_flow('start_flow_run_id', '[{"slug": "a"}]');

select is(
  (select run_id from pgflow.start_flow('start_flow_run_id', '{}', '3f0c4f0e-1b5e-4d2a-9c1e-0a6b7c8d9e01')),
  '3f0c4f0e-1b5e-4d2a-9c1e-0a6b7c8d9e01'::uuid,
  'a positional run_id is used'
);
select is(
  (
    select run_id from pgflow.start_flow(
      flow_slug => 'start_flow_run_id', input => '{}', run_id => '3f0c4f0e-1b5e-4d2a-9c1e-0a6b7c8d9e02'
    )
  ),
  '3f0c4f0e-1b5e-4d2a-9c1e-0a6b7c8d9e02'::uuid,
  'a named run_id is used'
);
select set_eq(
  $$select run_id from pgflow.runs where flow_slug = 'start_flow_run_id'$$,
  $$values ('3f0c4f0e-1b5e-4d2a-9c1e-0a6b7c8d9e01'::uuid), ('3f0c4f0e-1b5e-4d2a-9c1e-0a6b7c8d9e02'::uuid)$$,
  'the runs are stored under the given ids'
);

select finish();
rollback;
