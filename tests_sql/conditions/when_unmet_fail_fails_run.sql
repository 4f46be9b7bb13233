-- when_unmet fail: an unmet condition fails the run, with an error naming the step; the step gets no task and
-- nothing of the run stays claimable.
begin;
select plan(5);

select pgflow.define_flow(
  'cond_fail',
  '[{"slug": "validate"},
    {"slug": "charge_card", "depends_on": ["validate"], "if": {"validate": {"valid": true}}, "when_unmet": "fail"},
    {"slug": "side"}]'
);
select run_id from pgflow.start_run('cond_fail', '{}') \gset

select pgflow_tests.complete(:'run_id', 'validate', '{"valid": false}');
select is(pgflow_tests.run_status(:'run_id'), 'failed', 'the run fails');
select matches(
  (select error from pgflow.runs where run_id = :'run_id'), 'charge_card', 'the run error names the step'
);
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'charge_card'), 0,
  'the step has no task'
);
select is_empty($$select * from pgflow_tests.poll('cond_fail')$$, 'nothing of the failed run is claimable');
select is(
  (select finished_at is not null from pgflow.runs where run_id = :'run_id'), true, 'the failed run is finished'
);

select finish();
rollback;
