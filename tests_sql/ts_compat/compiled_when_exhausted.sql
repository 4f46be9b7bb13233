-- when_exhausted as pgflow's compiler writes it: once a task has no attempt left, 'skip' skips the step and its
-- dependents run without it, 'skip-cascade' skips it and what is downstream, 'fail' (the default) fails the run.
begin;
select plan(9);

select lives_ok(
  $sql$
SELECT pgflow.create_flow('ts_exhausted', max_attempts => 1);
SELECT pgflow.add_step('ts_exhausted', 'fetch');
SELECT pgflow.add_step('ts_exhausted', 'enrich', ARRAY['fetch'], when_exhausted => 'skip');
SELECT pgflow.add_step('ts_exhausted', 'translate', ARRAY['fetch'], max_attempts => 0, when_exhausted => 'skip-cascade');
SELECT pgflow.add_step('ts_exhausted', 'publish', ARRAY['translate']);
SELECT pgflow.add_step('ts_exhausted', 'report', ARRAY['fetch', 'enrich']);
SELECT pgflow.create_flow('ts_exhausted_fail');
SELECT pgflow.add_step('ts_exhausted_fail', 'only', max_attempts => 1, when_exhausted => 'fail');
SELECT pgflow.add_step('ts_exhausted_fail', 'sibling');
  $sql$,
  'the compiled statements run'
);
select results_eq(
  $$select step_slug, when_exhausted from pgflow.steps where flow_slug = 'ts_exhausted' order by step_index$$,
  $$values ('fetch', 'fail'), ('enrich', 'skip'), ('translate', 'skip-cascade'), ('publish', 'fail'),
           ('report', 'fail')$$,
  'when_exhausted is stored as given, fail by default'
);

select run_id from pgflow.start_flow('ts_exhausted', '{}') \gset
select pgflow_tests.complete(:'run_id', 'fetch', '{"page": 1}');
select ok(pgflow_tests.fail(:'run_id', 'enrich', 'enrich broke'), 'enrich fails its only attempt');
select is(pgflow_tests.step_status(:'run_id', 'enrich'), 'skipped', 'skip: enrich is skipped');
select is(
  (select input from pgflow_tests.claim(:'run_id', 'report')), '{"fetch": {"page": 1}}'::jsonb,
  'report runs without the skipped enrich'
);
select pgflow.complete_task(:'run_id', 'report', 0, '"r"');
select ok(pgflow_tests.fail(:'run_id', 'translate', 'translate broke'), 'translate fails its only attempt');
select results_eq(
  format(
    $$select step_slug, status from pgflow.step_states where run_id = %L and step_slug in ('translate', 'publish')
      order by step_slug$$,
    :'run_id'
  ),
  $$values ('publish', 'skipped'), ('translate', 'skipped')$$,
  'skip-cascade: translate and publish are skipped'
);
select is(pgflow_tests.run_status(:'run_id'), 'completed', 'the run completes around the skipped steps');

select run_id as fail_run from pgflow.start_flow('ts_exhausted_fail', '{}') \gset
select pgflow_tests.fail(:'fail_run', 'only', 'broke');
select is(pgflow_tests.run_status(:'fail_run'), 'failed', 'fail: the run fails');

select finish();
rollback;
