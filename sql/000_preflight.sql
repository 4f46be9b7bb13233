-- Before anything is installed or upgraded: the pgflow schema, if it exists, and every object in it must
-- belong to the role installing pgflow. Otherwise a role that was only allowed to create schemas could have
-- created "pgflow" first (or put a function in it), and the engine's functions, or its own in their place,
-- would later run with the rights of whoever calls them, superusers included. The installer runs this
-- file first, for a fresh install and before an upgrade; it writes nothing.
do $$
declare
  v_owner text;
  v_foreign text;
begin
  select pg_catalog.pg_get_userbyid(n.nspowner) into v_owner
  from pg_catalog.pg_namespace as n
  where n.nspname = 'pgflow';
  if not found then
    return;
  end if;
  if v_owner <> current_user then
    raise exception using
      errcode = 'PF008',
      message = pg_catalog.format(
        'schema pgflow belongs to role %I, not to %I who is installing pgflow: install as %I, or drop the schema '
        'if that role should not own it (it could have replaced the engine''s functions)',
        v_owner, current_user, v_owner
      );
  end if;

  select pg_catalog.string_agg(o.what, ', ' order by o.what) into v_foreign
  from (
    select pg_catalog.format('%s %s (owned by %s)', o.kind, o.name, pg_catalog.pg_get_userbyid(o.owner)) as what
    from (
      select 'relation' as kind, c.relname::text as name, c.relowner as owner
      from pg_catalog.pg_class as c
      where c.relnamespace = 'pgflow'::regnamespace
      union all
      select 'function', p.oid::regprocedure::text, p.proowner
      from pg_catalog.pg_proc as p
      where p.pronamespace = 'pgflow'::regnamespace
      union all
      select 'type', t.typname::text, t.typowner
      from pg_catalog.pg_type as t
      where t.typnamespace = 'pgflow'::regnamespace
      union all
      select 'operator', op.oprname::text, op.oprowner
      from pg_catalog.pg_operator as op
      where op.oprnamespace = 'pgflow'::regnamespace
    ) as o
    where o.owner <> (select r.oid from pg_catalog.pg_roles as r where r.rolname = current_user)
  ) as o;
  if v_foreign is not null then
    raise exception using
      errcode = 'PF008',
      message = pg_catalog.format(
        'schema pgflow holds objects that belong to other roles than %I, who is installing pgflow: %s; drop them '
        '(they could stand in for the engine''s own) and install again',
        current_user, pg_catalog.left(v_foreign, 2000)
      );
  end if;
end;
$$;
