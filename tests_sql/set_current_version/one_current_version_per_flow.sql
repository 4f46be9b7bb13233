-- Each flow has exactly one current version, whatever the order of define_flow, create_flow and
-- set_current_version calls; the schema refuses a second one; the function is documented.
begin;
select plan(5);

select pgflow.create_flow('single_current');
select pgflow.define_flow('single_current', '[{"slug": "a"}]');
select pgflow.define_flow('single_current', '[{"slug": "b"}]');
select pgflow.set_current_version('single_current', 1);
select pgflow.define_flow('single_current', '[{"slug": "a"}]');
select pgflow.set_current_version('single_current', 3);
select pgflow.define_flow('single_current', '[{"slug": "c"}]');

select is(
  (select count(*)::int from pgflow.flows where flow_slug = 'single_current' and is_current), 1,
  'one current version'
);
select is(
  (select version from pgflow.flows where flow_slug = 'single_current' and is_current), 4,
  'the newest definition, defined last, is current'
);
select throws_ok(
  $$update pgflow.flows set is_current = true where flow_slug = 'single_current' and version = 1$$,
  '23505', null, 'a second current version breaks the unique index flows_one_current_version'
);
select isnt(
  obj_description('pgflow.set_current_version(text, int)'::regprocedure, 'pg_proc'), null,
  'set_current_version has a comment'
);
select function_returns('pgflow', 'set_current_version', array['text', 'integer'], 'pgflow.flows');

select finish();
rollback;
