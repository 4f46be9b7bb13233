-- Defining the same definition twice writes one version: both calls return version 1, the second
-- returns the row written by the first (its created_at), and no step or dependency is duplicated.
begin;
select plan(6);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select
  version as v1,
  created_at as created1
from pgflow.define_flow(
  'same_twice', '[{"slug": "a"}, {"slug": "b"}]', '{"max_attempts": 4}'
) \gset
select pgflow_tests.advance(interval '1 hour');
select
  version as v2,
  created_at as created2
from pgflow.define_flow(
  'same_twice', '[{"slug": "a"}, {"slug": "b"}]', '{"max_attempts": 4}'
) \gset

select is(:'v1'::int, 1, 'the first definition is version 1');
select is(:'v2'::int, 1, 'the same definition again returns version 1');
select is(:'created2'::timestamptz, :'created1'::timestamptz, 'it returns the row written the first time');
select is(pgflow_tests.version_count('same_twice'), 1, 'one flows row exists');
select is(
  (select count(*)::int from pgflow.steps where flow_slug = 'same_twice'), 2, 'the steps are not written again'
);
select is(
  (select count(*)::int from pgflow.deps where flow_slug = 'same_twice'), 1, 'the dependency is not written again'
);

select finish();
rollback;
