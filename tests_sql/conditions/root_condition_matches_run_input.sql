-- A condition on a root step is evaluated against the run input: a contained pattern runs the step, another value
-- skips it; a dependent of the skipped root then starts at once, with an input lacking the root's key.
begin;
select plan(4);

select pgflow.define_flow(
  'cond_root',
  '[{"slug": "full_scan", "if": {"mode": "full"}}, {"slug": "report", "depends_on": ["full_scan"]}]'
);
select run_id as full_run from pgflow.start_run('cond_root', '{"mode": "full", "limit": 5}') \gset
select run_id as lite_run from pgflow.start_run('cond_root', '{"mode": "lite", "limit": 5}') \gset

select is(pgflow_tests.step_status(:'full_run', 'full_scan'), 'started', 'the run input contains the pattern: runs');
select is(pgflow_tests.step_status(:'lite_run', 'full_scan'), 'skipped', 'the run input lacks the pattern: skipped');
select is(pgflow_tests.step_status(:'lite_run', 'report'), 'started', 'the dependent of the skipped root starts');
select results_eq(
  $$select run_id, step_slug, input from pgflow_tests.poll('cond_root') order by step_slug$$,
  format(
    $$values (%L::uuid, 'full_scan', '{"mode": "full", "limit": 5}'::jsonb), (%L::uuid, 'report', '{}'::jsonb)$$,
    :'full_run', :'lite_run'
  ),
  'the root receives the run input; the dependent of the skipped root receives {}'
);

select finish();
rollback;
