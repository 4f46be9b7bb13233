-- start_run with an explicit run_id creates the run, its step states and tasks under that id.
begin;
select plan(3);

select pgflow.define_flow('explicit_run_id', '[{"slug": "a"}, {"slug": "b"}]');
select * from pgflow.start_run('explicit_run_id', '{}', '7d1c3a52-4a77-4a0e-9a51-0f8d2c3b4e01') \gset run_

select is(:'run_run_id'::uuid, '7d1c3a52-4a77-4a0e-9a51-0f8d2c3b4e01'::uuid, 'the returned run has the given id');
select is(
  (select count(*)::int from pgflow.step_states where run_id = '7d1c3a52-4a77-4a0e-9a51-0f8d2c3b4e01'), 2,
  'the step states belong to the given id'
);
select is(
  (select run_id from pgflow_tests.poll('explicit_run_id')), '7d1c3a52-4a77-4a0e-9a51-0f8d2c3b4e01'::uuid,
  'the claimed task carries the given id'
);

select finish();
rollback;
