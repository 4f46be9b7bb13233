-- A child run cancelled by a user fails its parent task's attempt ("was cancelled", with the reason); with attempts
-- left a new child starts.
begin;
select plan(3);

select pgflow.define_flow('sf_c', '[{"slug": "c"}]');
select pgflow.define_flow('sf_p', '[{"slug": "sub", "flow": "sf_c", "max_attempts": 2}]');
select run_id from pgflow.start_run('sf_p', '{}') \gset
select pgflow_tests.child_run(:'run_id', 'sub') as child \gset

select is((pgflow.cancel_run(:'child', 'wrong order')).status, 'cancelled', 'the child is cancelled');
select is(
  (select error from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'sub'),
  format('child run %s of flow ''sf_c'' was cancelled: wrong order', :'child'), 'the parent task says so'
);
select isnt(pgflow_tests.child_run(:'run_id', 'sub'), :'child'::uuid, 'a new child is started for attempt 2');

select finish();
rollback;
