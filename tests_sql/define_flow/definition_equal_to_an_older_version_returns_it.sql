-- Versions are matched by content: a definition equal to any version of the flow (once normalized: keys in
-- another order, defaults written out) returns that version, writes nothing and leaves the current version
-- where it was; a definition equal to none becomes version N+1 and the current one.
begin;
select plan(9);

select pgflow.define_flow('matched', '[{"slug": "a"}]');
select pgflow.define_flow('matched', '[{"slug": "a"}, {"slug": "summary"}]');

select is(
  (select version from pgflow.flows where flow_slug = 'matched' and is_current), 2,
  'the newest definition is the current version'
);
select is(
  (select array_agg(version order by version) from pgflow.flows where flow_slug = 'matched' and not is_current),
  array[1],
  'the older version is no longer current'
);

select is(
  (pgflow.define_flow('matched', '[{"slug": "a", "type": "single", "max_attempts": null}]', '{"timeout": 60}')),
  (select f from pgflow.flows as f where f.flow_slug = 'matched' and f.version = 1),
  'a definition equal to version 1 (normalized) returns version 1''s row'
);
select is(
  (pgflow.define_flow('matched', '[{"slug": "a"}]')).is_current, false,
  'the row returned says it is not current'
);
select is(
  (select version from pgflow.flows where flow_slug = 'matched' and is_current), 2,
  'defining an older version again does not make it current'
);
select is(pgflow_tests.version_count('matched'), 2, 'and writes no version');

select is(
  (pgflow.define_flow('matched', '[{"slug": "a"}, {"slug": "summary"}, {"slug": "report"}]')).version, 3,
  'a definition equal to no version becomes version 3'
);
select is(
  (select array_agg(version order by version) from pgflow.flows where flow_slug = 'matched' and is_current),
  array[3],
  'version 3 is the only current version'
);
select is(
  (select flow_version from pgflow.start_run('matched')), 3, 'runs start on the current version'
);

select finish();
rollback;
