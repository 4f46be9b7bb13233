-- A root step with an unmet condition and when_unmet fail fails the run inside start_run: the returned run is
-- failed, its error names the step, and no task is claimable.
begin;
select plan(4);

select pgflow.define_flow(
  'cond_fail_root',
  '[{"slug": "needs_user", "if": {"user_id": 1}, "when_unmet": "fail"}, {"slug": "next"}]'
);
select * from pgflow.start_run('cond_fail_root', '{"user_id": 2}') \gset run_

select is(:'run_status'::text, 'failed', 'start_run returns the failed run');
select is(pgflow_tests.run_status(:'run_run_id'), 'failed', 'the stored run is failed');
select matches(
  (select error from pgflow.runs where run_id = :'run_run_id'), 'needs_user', 'the run error names the step'
);
select is_empty($$select * from pgflow_tests.poll('cond_fail_root')$$, 'no task is claimable');

select finish();
rollback;
