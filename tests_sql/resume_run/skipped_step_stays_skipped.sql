-- A run that fails after one of its steps was skipped (when_exhausted "skip") resumes without touching the
-- skipped step: it stays skipped, its failed task is not queued again, only the failed step's task comes back,
-- the counters match the rows, and the dependent starts with the output of the step that completed (the
-- skipped one absent). A report for the skipped step's task is refused (false), never a raw error.
begin;
select plan(14);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow(
  'skip_then_fail',
  '[{"slug": "optional", "depends_on": [], "max_attempts": 1, "when_exhausted": "skip"},
    {"slug": "required", "depends_on": [], "max_attempts": 1},
    {"slug": "final", "depends_on": ["optional", "required"]}]'
);
select run_id from pgflow.start_run('skip_then_fail') \gset
select pgflow_tests.claim(:'run_id', 'optional');
select pgflow_tests.claim(:'run_id', 'required');
select is(pgflow.fail_task(:'run_id', 'optional', 0, 'optional broke', 1), true, 'optional fails and is skipped');
select is(pgflow.fail_task(:'run_id', 'required', 0, 'required broke', 1), true, 'required fails the run');
select is(pgflow_tests.run_status(:'run_id'), 'failed', 'the run failed');

select is((pgflow.resume_run(:'run_id')).status, 'started', 'the run resumes');
select is(pgflow_tests.step_status(:'run_id', 'optional'), 'skipped', 'the skipped step stays skipped');
select is(pgflow_tests.task_status(:'run_id', 'optional'), 'failed', 'its task stays failed');
select is(
  (select remaining_steps from pgflow.runs where run_id = :'run_id'), 2,
  'remaining_steps counts required and final only'
);
select results_eq(
  $$select step_slug from pgflow.poll_for_tasks('w', array['skip_then_fail'])$$,
  $$values ('required')$$,
  'only the failed step''s task comes back'
);
select is(
  pgflow.complete_task(:'run_id', 'optional', 0, '"late"', 1), false,
  'a report for the skipped step''s task is refused'
);
select is(
  pgflow.complete_task(:'run_id', 'required', 0, '"r"', 2), true, 'the resumed attempt of required completes'
);
select is(pgflow_tests.step_status(:'run_id', 'final'), 'started', 'final starts');
select is(
  (select input from pgflow.poll_for_tasks('w', array['skip_then_fail'])), '{"required": "r"}'::jsonb,
  'final receives required''s output, without the skipped step'
);
select is(pgflow.complete_task(:'run_id', 'final', 0, '"f"'), true, 'final completes');
select is(
  (select status || ' ' || output::text from pgflow.runs where run_id = :'run_id'), 'completed {"final": "f"}',
  'the run completes with the output of final'
);

select finish();
rollback;
