-- schema_version() returns the installed schema version: the newest row of pgflow.schema_migrations,
-- written by the installer.
begin;
select plan(3);

select isnt_empty($$select from pgflow.schema_migrations$$, 'the installer recorded a version');
select is(
  pgflow.schema_version(),
  (select version from pgflow.schema_migrations order by applied_at desc, version desc limit 1),
  'schema_version() is the newest installed version'
);
select matches(pgflow.schema_version(), '^\d+\.\d+\.\d+', 'it looks like a version number');

select finish();
rollback;
