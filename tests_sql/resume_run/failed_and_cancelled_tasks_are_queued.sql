-- resume_run queues the tasks that did not complete: in a -> (b, c) -> d with a completed, b's exhausted (failed)
-- task and c's task (cancelled when the run failed) become queued and claimable again.
begin;
select plan(5);

select pgflow_tests.define_diamond('resume_queues', '{"max_attempts": 1}');
select run_id from pgflow.start_run('resume_queues', '{}') \gset
select pgflow_tests.complete(:'run_id', 'a', '"A"');
select pgflow_tests.claim_and_fail(:'run_id', 'b', 'b broke');
select is(pgflow_tests.task_status(:'run_id', 'b'), 'failed', 'b''s task failed');
select is(pgflow_tests.task_status(:'run_id', 'c'), 'cancelled', 'c''s task was cancelled when the run failed');

select pgflow.resume_run(:'run_id');

select is(pgflow_tests.task_status(:'run_id', 'b'), 'queued', 'the failed task is queued again');
select is(pgflow_tests.task_status(:'run_id', 'c'), 'queued', 'the cancelled task is queued again');
select set_eq(
  $$select step_slug, task_index from pgflow_tests.poll('resume_queues')$$,
  $$values ('b', 0), ('c', 0)$$,
  'a poll claims b and c'
);

select finish();
rollback;
