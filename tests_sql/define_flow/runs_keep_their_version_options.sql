-- A run keeps the options of the version it started with: v1 allows one attempt, v2 three. After the
-- redefinition, a failure ends the old run at once and is retried in the new run.
begin;
select plan(5);

select pgflow.define_flow('versioned_opts', '[{"slug": "a"}]', '{"max_attempts": 1}');
select run_id as old_run from pgflow.start_run('versioned_opts') \gset
select is(
  (pgflow.define_flow('versioned_opts', '[{"slug": "a"}]', '{"max_attempts": 3}')).version, 2,
  'changing max_attempts creates version 2'
);
select run_id as new_run from pgflow.start_run('versioned_opts') \gset

select attempt as old_attempt from pgflow_tests.claim(:'old_run', 'a') \gset
select attempt as new_attempt from pgflow_tests.claim(:'new_run', 'a') \gset
select ok(pgflow.fail_task(:'old_run', 'a', 0, 'boom', :'old_attempt'), 'the old run''s attempt fails');
select ok(pgflow.fail_task(:'new_run', 'a', 0, 'boom', :'new_attempt'), 'the new run''s attempt fails');

select is(pgflow_tests.run_status(:'old_run'), 'failed', 'the old run had one attempt (v1) and fails');
select results_eq(
  format($$select r.status, t.status from pgflow.runs as r join pgflow.step_tasks as t using (run_id)
           where r.run_id = %L$$, :'new_run'),
  $$values ('started', 'queued')$$,
  'the new run has attempts left (v2) and queues a retry'
);

select finish();
rollback;
