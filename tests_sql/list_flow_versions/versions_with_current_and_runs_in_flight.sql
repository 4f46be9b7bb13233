-- list_flow_versions: every version of every flow (or of one), newest first, which is current, its steps and
-- how many of its runs are still started.
begin;
select plan(3);

select pgflow.define_flow('listed', '[{"slug": "a"}]');
select run_id as finished_run from pgflow.start_run('listed') \gset
select pgflow.cancel_run(:'finished_run');
select pgflow.start_run('listed');
select pgflow.define_flow('listed', '[{"slug": "a"}, {"slug": "summary", "depends_on": ["a"]}]');
select pgflow.start_run('listed');
select pgflow.start_run('listed');
select pgflow.set_current_version('listed', 1);

select is(
  (select jsonb_agg(e - 'created_at') from jsonb_array_elements(pgflow.list_flow_versions('listed')) as e),
  '[{"flow_slug": "listed", "version": 2, "is_current": false, "steps": ["a", "summary"], "runs_in_flight": 2},
    {"flow_slug": "listed", "version": 1, "is_current": true, "steps": ["a"], "runs_in_flight": 1}]'::jsonb,
  'each version, newest first, with its steps and runs in flight (a cancelled run is not in flight)'
);
select is(pgflow.list_flow_versions('no_such_flow'), '[]'::jsonb, 'an unknown flow: []');
select ok(
  (select count(*) from jsonb_array_elements(pgflow.list_flow_versions()) as e where e ->> 'flow_slug' = 'listed') = 2,
  'without a slug: every flow'
);

select finish();
rollback;
