-- plpgsql_check over every PL/pgSQL function of the pgflow schema: no errors, no warnings
-- (including the extra and performance warnings).
begin;
select plan(1);

select is_empty(
  $$
    select p.oid::regprocedure::text || ' line ' || coalesce(c.lineno::text, '?') || ': ' || c.message
    from pg_catalog.pg_proc as p
    inner join pg_catalog.pg_namespace as n on p.pronamespace = n.oid
    inner join pg_catalog.pg_language as l on p.prolang = l.oid
    cross join lateral plpgsql_check_function_tb(
      p.oid, fatal_errors => false, extra_warnings => true, performance_warnings => true
    ) as c
    where n.nspname = 'pgflow' and l.lanname = 'plpgsql'
  $$,
  'plpgsql_check finds nothing in any pgflow function'
);

select finish();
rollback;
