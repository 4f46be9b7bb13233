-- flow_versions {"flow_slug": [version, ...]} limits a poll to tasks of runs of the listed versions: a worker
-- claims only the versions whose steps it has. A flow absent from the object is not claimed; null (the
-- default) claims every version; flow_slugs and flow_versions both apply.
begin;
select plan(8);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('versioned', '[{"slug": "a"}]');
select run_id as v1_run from pgflow.start_run('versioned') \gset
select pgflow.define_flow('versioned', '[{"slug": "a"}, {"slug": "summary", "depends_on": ["a"]}]');
select run_id as v2_run from pgflow.start_run('versioned') \gset
select pgflow.define_flow('other_flow', '[{"slug": "s"}]');
select run_id as other_run from pgflow.start_run('other_flow') \gset

select is_empty(
  $$select * from pgflow.poll_for_tasks('v_worker', null, 10, '{"versioned": [3]}')$$,
  'a version without runs: nothing is claimed'
);
select is_empty(
  $$select * from pgflow.poll_for_tasks('v_worker', null, 10, '{}')$$,
  'an empty object claims nothing'
);
select results_eq(
  $$select run_id from pgflow.poll_for_tasks('v_worker', null, 10, '{"versioned": [2]}')$$,
  format('values (%L::uuid)', :'v2_run'),
  'version 2 listed: only the task of the version 2 run is claimed (other flows absent from the object are not)'
);
select is(pgflow_tests.task_status(:'v1_run', 'a'), 'queued', 'the version 1 task stays queued');
select is(pgflow_tests.task_status(:'other_run', 's'), 'queued', 'the other flow''s task stays queued');
select is_empty(
  $$select * from pgflow.poll_for_tasks('v_worker', array['other_flow'], 10, '{"versioned": [1]}')$$,
  'flow_slugs and flow_versions both apply'
);
select results_eq(
  $$select run_id from pgflow.poll_for_tasks('v_worker', null, 10, '{"versioned": [1, 5], "other_flow": [1]}')
    order by flow_slug desc$$,
  format('values (%L::uuid), (%L::uuid)', :'v1_run', :'other_run'),
  'several flows and versions at once'
);
select pgflow_tests.complete(:'v2_run', 'a', '{}');
select results_eq(
  $$select step_slug from pgflow.poll_for_tasks('v_worker', null, 10, null)$$,
  $$values ('summary')$$,
  'null claims any version'
);

select finish();
rollback;
