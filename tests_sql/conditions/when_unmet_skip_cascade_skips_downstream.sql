-- when_unmet skip-cascade: the step with the unmet condition and everything downstream of it are skipped (no
-- task for any of them), other branches run, and the run still completes.
begin;
select plan(6);

select pgflow.define_flow(
  'cond_skip_cascade',
  '[{"slug": "start"},
    {"slug": "gate", "depends_on": ["start"], "if": {"start": "go"}, "when_unmet": "skip-cascade"},
    {"slug": "after_gate", "depends_on": ["gate"]},
    {"slug": "far_below", "depends_on": ["after_gate", "start"]},
    {"slug": "other", "depends_on": ["start"]}]'
);
select run_id from pgflow.start_run('cond_skip_cascade', '{}') \gset

select pgflow_tests.complete(:'run_id', 'start', '"stop"');
select results_eq(
  format(
    $$select step_slug, status from pgflow.step_states where run_id = %L order by step_slug$$, :'run_id'
  ),
  $$values ('after_gate', 'skipped'), ('far_below', 'skipped'), ('gate', 'skipped'), ('other', 'started'),
    ('start', 'completed')$$,
  'the gate and everything downstream are skipped; the other branch runs'
);
select is(
  (
    select count(*)::int from pgflow.step_tasks
    where run_id = :'run_id' and step_slug in ('gate', 'after_gate', 'far_below')
  ),
  0,
  'no skipped step has a task'
);
select is(pgflow_tests.run_status(:'run_id'), 'started', 'the run waits for the other branch');
select ok(pgflow_tests.complete(:'run_id', 'other', '"o"'), 'the other branch completes');
select is(pgflow_tests.run_status(:'run_id'), 'completed', 'the run completes');
select is(
  (select output from pgflow.runs where run_id = :'run_id'), '{"other": "o"}'::jsonb,
  'the run output has the completed leaf only'
);

select finish();
rollback;
