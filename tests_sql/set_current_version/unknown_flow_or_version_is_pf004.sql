-- set_current_version of a flow or version that does not exist is PF004, in a sentence naming both; null
-- arguments are PF005; nothing changes.
begin;
select plan(6);

select pgflow.define_flow('known', '[{"slug": "a"}]');
select pgflow.define_flow('known', '[{"slug": "b"}]');

select throws_ok(
  $$select pgflow.set_current_version('known', 3)$$,
  'PF004', 'flow ''known'' has no version 3 (its versions are 1 to 2)',
  'an unknown version is PF004, naming the flow, the version and the versions it has'
);
select throws_ok(
  $$select pgflow.set_current_version('unknown_flow', 1)$$,
  'PF004', 'flow ''unknown_flow'' does not exist, so version 1 of it cannot be made current',
  'an unknown flow is PF004, naming the flow and the version'
);
select throws_ok(
  $$select pgflow.set_current_version(null, 1)$$,
  'PF005', 'set_current_version: flow_slug must not be null', 'a null flow_slug is PF005'
);
select throws_ok(
  $$select pgflow.set_current_version('known', null)$$,
  'PF005', 'set_current_version: version must not be null', 'a null version is PF005'
);
select throws_ok(
  $$select pgflow.set_current_version('known', 0)$$,
  'PF004', 'flow ''known'' has no version 0 (its versions are 1 to 2)', 'version 0 is PF004'
);
select is(
  (select array_agg(version) from pgflow.flows where flow_slug = 'known' and is_current), array[2],
  'the current version is still version 2'
);

select finish();
rollback;
