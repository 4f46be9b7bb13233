-- Resuming a failed parent resumes the failed child run of its sub-flow task (the same run id, for the task's new
-- attempt) rather than starting a new one; when the child then completes, so does the parent.
begin;
select plan(8);

select pgflow.define_flow('sf_c', '[{"slug": "c", "max_attempts": 1}]');
select pgflow.define_flow('sf_p', '[{"slug": "sub", "flow": "sf_c", "max_attempts": 1}]');
select run_id from pgflow.start_run('sf_p', '{}') \gset
select pgflow_tests.child_run(:'run_id', 'sub') as child \gset
select ok(pgflow_tests.claim_and_fail(:'child', 'c', 'boom'), 'the child fails');
select is(pgflow_tests.run_status(:'run_id'), 'failed', 'and so does the parent');

select is((pgflow.resume_run(:'run_id')).status, 'started', 'the parent is resumed');
select is(pgflow_tests.child_count(:'run_id'), 1, 'no new child run');
select is(pgflow_tests.run_status(:'child'), 'started', 'the child run is resumed');
select is(
  (
    select array[t.status, t.attempt::text, r.parent_attempt::text] from pgflow.step_tasks as t, pgflow.runs as r
    where t.run_id = :'run_id' and t.step_slug = 'sub' and r.run_id = :'child'
  ),
  array['started', '2', '2'], 'the task is engine-held at attempt 2, the child now for attempt 2'
);
select ok(pgflow_tests.complete(:'child', 'c', '"ok"'), 'the child''s task completes');
select is(pgflow_tests.run_status(:'run_id'), 'completed', 'the child completes, and the parent with it');

select finish();
rollback;
