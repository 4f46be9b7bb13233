-- Helpers for the tests of flow definitions (define_flow, create_flow, add_step): error messages,
-- cycle paths, and how many versions of a flow exist.

-- The message of the error the statement raises, or null when it raises none.
create or replace function pgflow_tests.error_message(statement text)
returns text
language plpgsql
volatile
as $$
begin
  execute error_message.statement;
  return null;
exception when others then
  return sqlerrm;
end;
$$;

-- The first "x -> y -> ..." path of slugs in a message, or null when there is none.
create or replace function pgflow_tests.cycle_path(message text)
returns text
language sql
immutable
as $$
  select (pg_catalog.regexp_match(cycle_path.message, '[A-Za-z_][A-Za-z0-9_]*(?: -> [A-Za-z_][A-Za-z0-9_]*)+'))[1]
$$;

-- Every way to write the cycle through the given slugs (in dependency order) as a closed path:
-- each rotation, in both directions. cycle_paths('a', 'b') is {"a -> b -> a", "b -> a -> b"}.
create or replace function pgflow_tests.cycle_paths(variadic slugs text[])
returns text[]
language sql
immutable
as $$
  with nodes as (
    select s.slug, s.pos::int - 1 as pos, pg_catalog.cardinality(cycle_paths.slugs) as n
    from pg_catalog.unnest(cycle_paths.slugs) with ordinality as s (slug, pos)
  ),
  paths as (
    select pg_catalog.array_to_string(
      array(
        select cycle_paths.slugs[((start.pos + dir.step * k.k) % start.n + start.n) % start.n + 1]
        from pg_catalog.generate_series(0, start.n) as k (k)
        order by k.k
      ),
      ' -> '
    ) as path
    from nodes as start
    cross join (values (1), (-1)) as dir (step)
  )
  select pg_catalog.array_agg(distinct paths.path) from paths
$$;

-- How many versions of a flow exist.
create or replace function pgflow_tests.version_count(flow_slug text)
returns int
language sql
stable
as $$
  select pg_catalog.count(*)::int from pgflow.flows as f where f.flow_slug = version_count.flow_slug
$$;
