-- A wait step's timeout applies its when_exhausted: "skip" lets the dependents run without it, "skip-cascade"
-- skips everything downstream; the run goes on.
begin;
select plan(7);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select pgflow.define_flow(
  'optional_ok',
  '[{"slug": "approval", "type": "wait", "timeout": 60, "when_exhausted": "skip"},
    {"slug": "next", "depends_on": ["approval"]}]'
);
select pgflow.define_flow(
  'cascade_ok',
  '[{"slug": "approval", "type": "wait", "timeout": 60, "when_exhausted": "skip-cascade"},
    {"slug": "next", "depends_on": ["approval"]}, {"slug": "other"}]'
);
select run_id as skip_id from pgflow.start_run('optional_ok', '{}') \gset
select run_id as cascade_id from pgflow.start_run('cascade_ok', '{}') \gset
select pgflow_tests.complete(:'cascade_id', 'other', '"o"');

select pgflow_tests.set_now('2030-01-01 00:01:00+00');
select is(pgflow.expire_tasks(), 2, 'both waits expire');

select is(pgflow_tests.step_status(:'skip_id', 'approval'), 'skipped', 'skip: the wait step is skipped');
select results_eq(
  $$select step_slug, input from pgflow_tests.poll('optional_ok')$$,
  $$values ('next'::text, '{}'::jsonb)$$,
  'skip: the dependent runs without it'
);
select is(pgflow_tests.run_status(:'skip_id'), 'started', 'skip: the run goes on');

select is(pgflow_tests.step_status(:'cascade_id', 'approval'), 'skipped', 'skip-cascade: the wait step is skipped');
select is(pgflow_tests.step_status(:'cascade_id', 'next'), 'skipped', 'skip-cascade: its dependent too');
select is(pgflow_tests.run_status(:'cascade_id'), 'completed', 'skip-cascade: the run completes');

select finish();
rollback;
