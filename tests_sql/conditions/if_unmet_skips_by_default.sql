-- A step whose `if` is unmet, with when_unmet left at its default (skip), is skipped without a task; its
-- dependents still run, receiving an input without its key; the run completes.
begin;
select plan(7);

select pgflow.define_flow(
  'cond_skip_default',
  '[{"slug": "load"},
    {"slug": "enrich", "depends_on": ["load"], "if": {"load": {"enrich": true}}},
    {"slug": "save", "depends_on": ["load", "enrich"]}]'
);
select run_id from pgflow.start_run('cond_skip_default', '{}') \gset

select pgflow_tests.complete(:'run_id', 'load', '{"enrich": false}');
select is(pgflow_tests.step_status(:'run_id', 'enrich'), 'skipped', 'the step is skipped');
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'run_id' and step_slug = 'enrich'), 0,
  'the skipped step has no task'
);
select is(
  (select finished_at is not null from pgflow.step_states where run_id = :'run_id' and step_slug = 'enrich'), true,
  'the skipped step is finished'
);
select is(pgflow_tests.step_status(:'run_id', 'save'), 'started', 'its dependent starts');
select is(
  (select input from pgflow_tests.poll('cond_skip_default') where step_slug = 'save'),
  '{"load": {"enrich": false}}'::jsonb,
  'the dependent input has no key for the skipped step'
);
select ok(pgflow.complete_task(:'run_id', 'save', 0, '"saved"'), 'the dependent completes');
select is(pgflow_tests.run_status(:'run_id'), 'completed', 'the run completes');

select finish();
rollback;
