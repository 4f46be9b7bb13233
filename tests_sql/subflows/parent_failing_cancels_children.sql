-- A parent run that fails (another step exhausted) cancels the started child runs of its sub-flow tasks.
begin;
select plan(3);

select pgflow.define_flow('sf_c', '[{"slug": "c"}]');
select
  pgflow.define_flow(
    'sf_p',
    '[{"slug": "sub", "flow": "sf_c", "depends_on": []}, {"slug": "other", "max_attempts": 1, "depends_on": []}]'
  );
select run_id from pgflow.start_run('sf_p', '{}') \gset
select pgflow_tests.child_run(:'run_id', 'sub') as child \gset

select ok(pgflow_tests.claim_and_fail(:'run_id', 'other', 'boom'), 'the other step fails');
select is(pgflow_tests.run_status(:'run_id'), 'failed', 'the parent fails');
select is(pgflow_tests.run_status(:'child'), 'cancelled', 'its child run is cancelled');

select finish();
rollback;
