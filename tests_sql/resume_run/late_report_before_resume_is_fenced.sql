-- A late report from an attempt made before resume_run is fenced: x's attempt was in flight when y failed the run;
-- after the resume, complete_task and fail_task with that old attempt return false and change nothing, both while
-- x is queued and after x was claimed again; the new attempt's report is recorded.
begin;
select plan(8);

select pgflow.define_flow(
  'resume_fenced',
  '[{"slug": "x", "depends_on": []}, {"slug": "y", "depends_on": []}]',
  '{"max_attempts": 1}'
);
select run_id from pgflow.start_run('resume_fenced', '{}') \gset
select attempt as old_attempt from pgflow_tests.claim(:'run_id', 'x') \gset
select pgflow_tests.claim_and_fail(:'run_id', 'y', 'y broke');
select pgflow.resume_run(:'run_id');

select is(
  pgflow.complete_task(:'run_id', 'x', 0, '"stale"', :old_attempt), false,
  'while x is queued again, the old attempt''s completion returns false'
);
select is(pgflow_tests.task_status(:'run_id', 'x'), 'queued', 'x stays queued');

select attempt as new_attempt from pgflow_tests.claim(:'run_id', 'x') \gset
select is(
  pgflow.complete_task(:'run_id', 'x', 0, '"stale"', :old_attempt), false,
  'after x was claimed again, the old attempt''s completion returns false'
);
select is(
  pgflow.fail_task(:'run_id', 'x', 0, 'stale failure', :old_attempt), false,
  'after x was claimed again, the old attempt''s failure returns false'
);
select is(
  (select row(status, output, attempt)::text from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'x'),
  row('started', null::jsonb, :new_attempt)::text,
  'x is still started by the new attempt, without output'
);
select is(pgflow_tests.run_status(:'run_id'), 'started', 'the run is still started');
select ok(
  pgflow.complete_task(:'run_id', 'x', 0, '"fresh"', :new_attempt), 'the new attempt''s completion is recorded'
);
select is(
  (select output from pgflow.step_states where run_id = :'run_id' and step_slug = 'x'), '"fresh"'::jsonb,
  'x''s output is the new attempt''s'
);

select finish();
rollback;
