-- create_flow on an existing flow writes nothing and returns the current version, whatever options it
-- is given: after create_flow it returns version 1 unchanged; after define_flow made version 2, version 2.
begin;
select plan(6);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select pgflow.create_flow('create_twice', 4);
select pgflow_tests.advance(interval '1 minute');
select (f).* from (select pgflow.create_flow('create_twice', 9, 9, 9) as f) as c \gset again_

select is(:'again_version'::int, 1, 'a second create_flow returns version 1');
select is(
  array[:'again_max_attempts', :'again_timeout']::numeric[], array[4, 60]::numeric[],
  'with the options of the first call'
);
select is(:'again_created_at'::timestamptz, '2030-01-01 00:00:00+00'::timestamptz, 'the row written the first time');
select is(pgflow_tests.version_count('create_twice'), 1, 'nothing was written');

select pgflow.define_flow('create_twice', '[{"slug": "a"}]');
select is((pgflow.create_flow('create_twice')).version, 2, 'after define_flow made version 2, it returns version 2');
select is(pgflow_tests.version_count('create_twice'), 2, 'and writes nothing');

select finish();
rollback;
