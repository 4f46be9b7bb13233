-- poll_for_tasks_lean takes flow_versions as poll_for_tasks does: only tasks of the listed versions.
begin;
select plan(2);

select pgflow.define_flow('lean_versioned', '[{"slug": "a"}]');
select run_id as v1_run from pgflow.start_run('lean_versioned') \gset
select pgflow.define_flow('lean_versioned', '[{"slug": "a", "timeout": 5}]');
select run_id as v2_run from pgflow.start_run('lean_versioned') \gset

select results_eq(
  $$select run_id, flow_input
    from pgflow.poll_for_tasks_lean('lean_worker', flow_versions => '{"lean_versioned": [1]}')$$,
  format('values (%L::uuid, null::jsonb)', :'v1_run'),
  'only the version 1 task is claimed, without flow_input'
);
select is(pgflow_tests.task_status(:'v2_run', 'a'), 'queued', 'the version 2 task stays queued');

select finish();
rollback;
