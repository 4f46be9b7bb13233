-- After resume_run, the task that exhausted its attempts may again fail max_attempts times before the run fails:
-- with max_attempts 2, the first failure after the resume is retried (run still started, task queued) and the
-- second one fails the run again.
begin;
select plan(8);

select pgflow.define_flow('resume_budget', '[{"slug": "flaky"}]', '{"max_attempts": 2, "base_delay": 0}');
select run_id from pgflow.start_run('resume_budget', '{}') \gset
select pgflow_tests.claim_and_fail(:'run_id', 'flaky', 'first');
select is(pgflow_tests.run_status(:'run_id'), 'started', 'before the resume: the first failure is retried');
select pgflow_tests.claim_and_fail(:'run_id', 'flaky', 'second');
select is(pgflow_tests.run_status(:'run_id'), 'failed', 'before the resume: the second failure fails the run');

select pgflow.resume_run(:'run_id');

select ok(pgflow_tests.claim_and_fail(:'run_id', 'flaky', 'third'), 'the first failure after the resume is recorded');
select is(pgflow_tests.run_status(:'run_id'), 'started', 'the run is still started after it');
select is(pgflow_tests.task_status(:'run_id', 'flaky'), 'queued', 'the task is queued for a retry');

select ok(pgflow_tests.claim_and_fail(:'run_id', 'flaky', 'fourth'), 'the second failure after the resume is recorded');
select is(pgflow_tests.run_status(:'run_id'), 'failed', 'the second failure after the resume fails the run');
select matches(
  (select error from pgflow.runs where run_id = :'run_id'), 'fourth', 'the run''s error is the latest failure'
);

select finish();
rollback;
