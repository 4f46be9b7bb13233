-- set_current_version makes an older version current (a rollback) and a newer one again (a roll forward):
-- runs start on whichever is current; runs in flight keep their version; a version already current is
-- returned unchanged; create_flow and add_step work on the current version.
begin;
select plan(11);

select pgflow.define_flow('rolled', '[{"slug": "a"}]');
select pgflow.define_flow('rolled', '[{"slug": "a"}, {"slug": "summary", "depends_on": ["a"]}]');
select run_id as on_v2 from pgflow.start_run('rolled') \gset

select is(
  (pgflow.set_current_version('rolled', 1)).version, 1, 'set_current_version returns the row of the version'
);
select is(
  (select array_agg(version) from pgflow.flows where flow_slug = 'rolled' and is_current), array[1],
  'version 1 is the only current version'
);
select is((select flow_version from pgflow.start_run('rolled')), 1, 'new runs start on version 1');
select is(
  (select flow_version from pgflow.runs where run_id = :'on_v2'), 2, 'the run in flight keeps version 2'
);
select bag_eq(
  $$select step_slug from pgflow.step_states where run_id = (
      select run_id from pgflow.runs where flow_slug = 'rolled' and flow_version = 1
    )$$,
  $$values ('a')$$,
  'a run of version 1 has version 1''s steps'
);
select is(
  (pgflow.define_flow('rolled', '[{"slug": "a"}, {"slug": "summary", "depends_on": ["a"]}]')).version, 2,
  'defining version 2''s code again returns version 2'
);
select is(
  (select version from pgflow.flows where flow_slug = 'rolled' and is_current), 1,
  'and leaves version 1 current (an old worker restarted does not roll forward, nor back)'
);
select is(
  (pgflow.create_flow('rolled')).version, 1, 'create_flow returns the current version, not the newest'
);

select is(
  (pgflow.set_current_version('rolled', 2)).is_current, true, 'rolling forward again returns the current row'
);
select is(
  (pgflow.set_current_version('rolled', 2)),
  (select f from pgflow.flows as f where f.flow_slug = 'rolled' and f.version = 2),
  'a version already current is returned unchanged'
);
select is((select flow_version from pgflow.start_run('rolled')), 2, 'new runs start on version 2 again');

select finish();
rollback;
