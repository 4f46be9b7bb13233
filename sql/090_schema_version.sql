-- The schema version shipped in these files. The installer compares it with the installed one
-- and records every install or upgrade in pgflow.schema_migrations.

-- Called by the installer and by anyone checking what is installed.
create or replace function pgflow.schema_version()
returns text
language sql
immutable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
  select '0.5.0'::text
$$;

comment on function pgflow.schema_version() is 'The installed version of the pgflow schema.';
