-- A child input the child flow refuses (its root map step needs an array) fails the parent task without retry, with
-- the refusal's message; no child run is left, and the rest of the transaction stands.
begin;
select plan(5);

select pgflow.define_flow('sf_c', '[{"slug": "each", "type": "map"}]');
select pgflow.define_flow('sf_p', '[{"slug": "sub", "flow": "sf_c", "max_attempts": 3}]');
select lives_ok($$select pgflow.start_run('sf_p', '{"not": "an array"}')$$, 'start_run does not raise');
select run_id from pgflow.runs where flow_slug = 'sf_p' \gset
select is(pgflow_tests.run_status(:'run_id'), 'failed', 'the run fails (when_exhausted "fail")');
select is(pgflow_tests.task_status(:'run_id', 'sub'), 'failed', 'the task failed');
select is((select attempt from pgflow.step_tasks where run_id = :'run_id'), 1, 'without retry');
select is(
  (select error from pgflow.runs where run_id = :'run_id'),
  'step ''sub'' failed at attempt 1, not to be retried: task 0 could not start a run of flow ''sf_c'': flow ''sf_c'' '
  'starts with map step ''each'', so its input must be a JSON array, got object', 'with the refusal''s message'
);

select finish();
rollback;
