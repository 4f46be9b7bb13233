-- Before anything is installed or upgraded: the pgflow schema, if it exists, and every object in it must
-- belong to the role installing pgflow. Otherwise a role that was only allowed to create schemas could have
-- created "pgflow" first (or put a function in it), and the engine's functions, or its own in their place,
-- would later run with the rights of whoever calls them, superusers included. The installer runs this
-- file first, for a fresh install and before an upgrade; it writes nothing.
do $$
declare
  v_owner text;
  v_foreign text;
  v_foreign_extra text;
  v_creators text;
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
      union all
      select 'collation', c.collname::text, c.collowner
      from pg_catalog.pg_collation as c
      where c.collnamespace = 'pgflow'::regnamespace
      union all
      select 'conversion', c.conname::text, c.conowner
      from pg_catalog.pg_conversion as c
      where c.connamespace = 'pgflow'::regnamespace
      union all
      select 'operator class', c.opcname::text, c.opcowner
      from pg_catalog.pg_opclass as c
      where c.opcnamespace = 'pgflow'::regnamespace
      union all
      select 'operator family', f.opfname::text, f.opfowner
      from pg_catalog.pg_opfamily as f
      where f.opfnamespace = 'pgflow'::regnamespace
      union all
      select 'text search configuration', c.cfgname::text, c.cfgowner
      from pg_catalog.pg_ts_config as c
      where c.cfgnamespace = 'pgflow'::regnamespace
      union all
      select 'text search dictionary', d.dictname::text, d.dictowner
      from pg_catalog.pg_ts_dict as d
      where d.dictnamespace = 'pgflow'::regnamespace
      union all
      select 'statistics object', x.stxname::text, x.stxowner
      from pg_catalog.pg_statistic_ext as x
      where x.stxnamespace = 'pgflow'::regnamespace
    ) as o
    where o.owner <> (select r.oid from pg_catalog.pg_roles as r where r.rolname = current_user)
  ) as o;
  -- text search parsers and templates have no owner: only superusers make them
  select pg_catalog.string_agg(o.what, ', ' order by o.what) into v_foreign_extra
  from (
    select 'text search parser ' || p.prsname as what
    from pg_catalog.pg_ts_parser as p
    where p.prsnamespace = 'pgflow'::regnamespace
    union all
    select 'text search template ' || t.tmplname
    from pg_catalog.pg_ts_template as t
    where t.tmplnamespace = 'pgflow'::regnamespace
  ) as o;
  v_foreign := nullif(pg_catalog.concat_ws(', ', v_foreign, v_foreign_extra), '');

  if v_foreign is not null then
    raise exception using
      errcode = 'PF008',
      message = pg_catalog.format(
        'schema pgflow holds objects that belong to other roles than %I, who is installing pgflow: %s; drop them '
        '(they could stand in for the engine''s own) and install again',
        current_user, pg_catalog.left(v_foreign, 2000)
      );
  end if;
  -- nor may another role create objects in it (one could add a function the engine's callers pick up)
  select pg_catalog.string_agg(
    case when a.grantee = 0 then 'PUBLIC' else pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) end,
    ', ' order by a.grantee
  )
  into v_creators
  from pg_catalog.pg_namespace as n
  cross join lateral pg_catalog.aclexplode(n.nspacl) as a
  where n.nspname = 'pgflow' and a.privilege_type = 'CREATE' and a.grantee <> n.nspowner;
  if v_creators is not null then
    raise exception using
      errcode = 'PF008',
      message = pg_catalog.format(
        'roles other than %I may create objects in schema pgflow (%s): revoke create on schema pgflow from them '
        'and install again',
        current_user, v_creators
      );
  end if;
end;
$$;
