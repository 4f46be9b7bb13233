-- Validation and normalization of flow definitions, shared by define_flow, create_flow and add_step.
--
-- A definition is checked completely before anything is written:
--   PF001  a bad slug, option, type or mode, a duplicate step, an unknown key, a map with >1 dependency
--   PF002  dependencies on steps that do not exist (every one of them is listed)
--   PF003  a cycle, reported with its path
-- The normalized form (every key explicit, dependencies sorted) is what define_flow compares to
-- decide whether a definition is new.

-- Called by the validators: PF001 unless the slug is 1-128 letters, digits and underscores.
create or replace function pgflow._check_slug(what text, slug text)
returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if _check_slug.slug is null
     or _check_slug.slug !~ '^[a-zA-Z_][a-zA-Z0-9_]*$'
     or pg_catalog.length(_check_slug.slug) > 128 then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        '%s %s is not a valid slug: use 1 to 128 letters, digits and underscores, not starting with a digit',
        _check_slug.what, coalesce(pg_catalog.quote_literal(_check_slug.slug), 'null')
      );
  end if;
end;
$$;

-- Called by the validators: checks one option value (a JSON value) and returns it as numeric,
-- or null when it is absent or JSON null. PF001 when it is out of range or not a number.
create or replace function pgflow._check_option(owner text, option_name text, option_value jsonb)
returns numeric
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_number numeric;
  v_rule text;
begin
  if _check_option.option_value is null or pg_catalog.jsonb_typeof(_check_option.option_value) = 'null' then
    return null;
  end if;

  v_rule := case _check_option.option_name
    when 'max_attempts' then 'an integer from 1 to 2147483647'
    when 'timeout' then 'a number of seconds greater than 0 and at most 3153600000'
    else 'a number of seconds from 0 to 3153600000'
  end;

  if pg_catalog.jsonb_typeof(_check_option.option_value) = 'number' then
    v_number := (_check_option.option_value #>> '{}')::numeric;
  end if;

  if v_number is null
     or (_check_option.option_name = 'max_attempts'
         and (v_number <> pg_catalog.trunc(v_number) or v_number < 1 or v_number > 2147483647))
     or (_check_option.option_name = 'timeout' and (v_number <= 0 or v_number > 3153600000))
     or (_check_option.option_name <> 'max_attempts' and (v_number < 0 or v_number > 3153600000)) then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        '%s: option %s must be %s, got %s',
        _check_option.owner, _check_option.option_name, v_rule, _check_option.option_value::text
      );
  end if;
  return v_number;
end;
$$;

-- Called by define_flow and create_flow: validates flow-level options and returns them complete,
-- defaults filled in: {"max_attempts", "base_delay", "max_delay", "timeout"}.
create or replace function pgflow._normalize_flow_options(flow_slug text, options jsonb)
returns jsonb
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_owner text := pg_catalog.format('flow %L', _normalize_flow_options.flow_slug);
  v_unknown text;
begin
  if _normalize_flow_options.options is null or pg_catalog.jsonb_typeof(_normalize_flow_options.options) = 'null' then
    return '{"max_attempts": 3, "base_delay": 1, "max_delay": 300, "timeout": 60}'::jsonb;
  end if;
  if pg_catalog.jsonb_typeof(_normalize_flow_options.options) <> 'object' then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        '%s: options must be a JSON object, got %s', v_owner, _normalize_flow_options.options
      );
  end if;

  select pg_catalog.string_agg(k.key, ', ' order by k.key) into v_unknown
  from pg_catalog.jsonb_object_keys(_normalize_flow_options.options) as k (key)
  where k.key not in ('max_attempts', 'base_delay', 'max_delay', 'timeout');
  if v_unknown is not null then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        '%s: unknown option(s) %s; flow options are max_attempts, base_delay, max_delay and timeout',
        v_owner, v_unknown
      );
  end if;

  return pg_catalog.jsonb_build_object(
    'max_attempts', coalesce(pgflow._check_option(v_owner, 'max_attempts', options -> 'max_attempts'), 3),
    'base_delay', coalesce(pgflow._check_option(v_owner, 'base_delay', options -> 'base_delay'), 1),
    'max_delay', coalesce(pgflow._check_option(v_owner, 'max_delay', options -> 'max_delay'), 300),
    'timeout', coalesce(pgflow._check_option(v_owner, 'timeout', options -> 'timeout'), 60)
  );
end;
$$;

-- Called by _normalize_definition and add_step: validates one step object and returns it with
-- every key explicit. depends_on is taken as given (null when absent): the caller resolves it.
create or replace function pgflow._normalize_step(flow_slug text, step jsonb, step_position int)
returns jsonb
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_slug text;
  v_owner text;
  v_unknown text;
  v_type text;
  v_deps jsonb;
  v_when_unmet text;
  v_when_exhausted text;
begin
  if pg_catalog.jsonb_typeof(_normalize_step.step) is distinct from 'object' then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        'flow %L: step #%s must be a JSON object with at least a "slug", got %s',
        _normalize_step.flow_slug, _normalize_step.step_position, coalesce(_normalize_step.step::text, 'null')
      );
  end if;

  if pg_catalog.jsonb_typeof(_normalize_step.step -> 'slug') is distinct from 'string' then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        'flow %L: step #%s needs a "slug" string, got %s',
        _normalize_step.flow_slug, _normalize_step.step_position,
        coalesce((_normalize_step.step -> 'slug')::text, 'nothing')
      );
  end if;
  v_slug := _normalize_step.step ->> 'slug';
  perform pgflow._check_slug(pg_catalog.format('flow %L: step', _normalize_step.flow_slug), v_slug);
  v_owner := pg_catalog.format('flow %L, step %L', _normalize_step.flow_slug, v_slug);

  select pg_catalog.string_agg(k.key, ', ' order by k.key) into v_unknown
  from pg_catalog.jsonb_object_keys(_normalize_step.step) as k (key)
  where k.key not in (
    'slug', 'depends_on', 'type', 'max_attempts', 'base_delay', 'max_delay', 'timeout', 'start_delay',
    'if', 'if_not', 'when_unmet', 'when_exhausted'
  );
  if v_unknown is not null then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        '%s: unknown key(s) %s; a step takes slug, depends_on, type, max_attempts, base_delay, max_delay, '
        'timeout, start_delay, if, if_not, when_unmet and when_exhausted',
        v_owner, v_unknown
      );
  end if;

  v_type := coalesce(_normalize_step.step ->> 'type', 'single');
  if v_type not in ('single', 'map')
     or pg_catalog.jsonb_typeof(_normalize_step.step -> 'type') not in ('string', 'null') then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        '%s: type must be "single" or "map", got %s', v_owner, _normalize_step.step -> 'type'
      );
  end if;

  if _normalize_step.step ? 'depends_on' then
    v_deps := _normalize_step.step -> 'depends_on';
    if pg_catalog.jsonb_typeof(v_deps) = 'null' then
      v_deps := '[]'::jsonb;
    end if;
    if pg_catalog.jsonb_typeof(v_deps) <> 'array'
       or exists (
         select from pg_catalog.jsonb_array_elements(v_deps) as d (dep)
         where pg_catalog.jsonb_typeof(d.dep) <> 'string'
       ) then
      raise exception using
        errcode = 'PF001',
        message = pg_catalog.format('%s: depends_on must be an array of step slugs, got %s', v_owner, v_deps);
    end if;
    -- sorted and without repeats, so that the same DAG always normalizes the same way
    select coalesce(pg_catalog.jsonb_agg(distinct d.dep order by d.dep), '[]'::jsonb) into v_deps
    from pg_catalog.jsonb_array_elements_text(v_deps) as d (dep);
  end if;

  v_when_unmet := coalesce(_normalize_step.step ->> 'when_unmet', 'skip');
  if v_when_unmet not in ('skip', 'skip-cascade', 'fail') then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        '%s: when_unmet must be "skip", "skip-cascade" or "fail", got %s', v_owner, _normalize_step.step -> 'when_unmet'
      );
  end if;
  v_when_exhausted := coalesce(_normalize_step.step ->> 'when_exhausted', 'fail');
  if v_when_exhausted not in ('fail', 'skip', 'skip-cascade') then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        '%s: when_exhausted must be "fail", "skip" or "skip-cascade", got %s',
        v_owner, _normalize_step.step -> 'when_exhausted'
      );
  end if;

  return pg_catalog.jsonb_build_object(
    'slug', v_slug,
    'type', v_type,
    'depends_on', v_deps,
    'max_attempts', pgflow._check_option(v_owner, 'max_attempts', _normalize_step.step -> 'max_attempts'),
    'base_delay', pgflow._check_option(v_owner, 'base_delay', _normalize_step.step -> 'base_delay'),
    'max_delay', pgflow._check_option(v_owner, 'max_delay', _normalize_step.step -> 'max_delay'),
    'timeout', pgflow._check_option(v_owner, 'timeout', _normalize_step.step -> 'timeout'),
    'start_delay', pgflow._check_option(v_owner, 'start_delay', _normalize_step.step -> 'start_delay'),
    'if', nullif(_normalize_step.step -> 'if', 'null'::jsonb),
    'if_not', nullif(_normalize_step.step -> 'if_not', 'null'::jsonb),
    'when_unmet', v_when_unmet,
    'when_exhausted', v_when_exhausted
  );
end;
$$;

-- Called by _normalize_definition and add_step: PF002 listing every dependency that names no step,
-- then PF001 for a map step with more than one dependency. steps: normalized steps, deps resolved.
create or replace function pgflow._check_dependencies(flow_slug text, steps jsonb)
returns void
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_message text;
  v_detail jsonb;
  v_map text;
begin
  with edges as (
    select s.step ->> 'slug' as step_slug, d.dep
    from pg_catalog.jsonb_array_elements(_check_dependencies.steps) as s (step)
    cross join lateral pg_catalog.jsonb_array_elements_text(s.step -> 'depends_on') as d (dep)
  ),
  unknown as (
    select e.step_slug, e.dep
    from edges as e
    where not exists (
      select from pg_catalog.jsonb_array_elements(_check_dependencies.steps) as s (step)
      where s.step ->> 'slug' = e.dep
    )
  )
  select
    pg_catalog.string_agg(pg_catalog.format('%s (needed by %s)', u.dep, u.needed_by), ', ' order by u.dep),
    pg_catalog.jsonb_object_agg(u.dep, u.needed_by_json)
  into v_message, v_detail
  from (
    select
      unknown.dep,
      pg_catalog.string_agg(unknown.step_slug, ', ' order by unknown.step_slug) as needed_by,
      pg_catalog.jsonb_agg(unknown.step_slug order by unknown.step_slug) as needed_by_json
    from unknown
    group by unknown.dep
  ) as u;

  if v_message is not null then
    raise exception using
      errcode = 'PF002',
      message = pg_catalog.format('flow %L: unknown dependencies: %s', _check_dependencies.flow_slug, v_message),
      detail = pg_catalog.jsonb_build_object('unknown_dependencies', v_detail)::text;
  end if;

  select s.step ->> 'slug' into v_map
  from pg_catalog.jsonb_array_elements(_check_dependencies.steps) as s (step)
  where s.step ->> 'type' = 'map' and pg_catalog.jsonb_array_length(s.step -> 'depends_on') > 1
  limit 1;
  if v_map is not null then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        'flow %L, step %L: a map step maps over the output of at most one dependency, it has %s',
        _check_dependencies.flow_slug, v_map,
        (
          select s.step -> 'depends_on'
          from pg_catalog.jsonb_array_elements(_check_dependencies.steps) as s (step)
          where s.step ->> 'slug' = v_map
        )
      );
  end if;
end;
$$;

-- Called by define_flow: validates a whole definition and returns its normalized form
-- {"options": {...}, "steps": [...]} with steps in the given order and every depends_on resolved
-- (sequential shorthand: when no step has a depends_on key, each step depends on the one before).
create or replace function pgflow._normalize_definition(flow_slug text, steps jsonb, options jsonb)
returns jsonb
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_steps jsonb;
  v_sequential boolean;
  v_duplicate text;
begin
  perform pgflow._check_slug('flow', _normalize_definition.flow_slug);

  if pg_catalog.jsonb_typeof(_normalize_definition.steps) is distinct from 'array'
     or pg_catalog.jsonb_array_length(_normalize_definition.steps) = 0 then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        'flow %L: steps must be a non-empty JSON array of step objects, got %s',
        _normalize_definition.flow_slug, coalesce(_normalize_definition.steps::text, 'null')
      );
  end if;

  select coalesce(pg_catalog.jsonb_agg(pgflow._normalize_step(_normalize_definition.flow_slug, e.step, e.pos::int)
                                       order by e.pos), '[]'::jsonb)
  into v_steps
  from pg_catalog.jsonb_array_elements(_normalize_definition.steps) with ordinality as e (step, pos);

  select s.step ->> 'slug' into v_duplicate
  from pg_catalog.jsonb_array_elements(v_steps) as s (step)
  group by s.step ->> 'slug'
  having pg_catalog.count(*) > 1
  order by 1
  limit 1;
  if v_duplicate is not null then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        'flow %L: step %L is defined more than once; step slugs must be unique',
        _normalize_definition.flow_slug, v_duplicate
      );
  end if;

  -- depends_on: the sequential shorthand when no step has the key, else a missing key means []
  v_sequential := not exists (
    select from pg_catalog.jsonb_array_elements(v_steps) as s (step)
    where s.step -> 'depends_on' <> 'null'::jsonb
  );
  select pg_catalog.jsonb_agg(
    pg_catalog.jsonb_set(
      e.step, '{depends_on}',
      case
        when not v_sequential then coalesce(nullif(e.step -> 'depends_on', 'null'::jsonb), '[]'::jsonb)
        when e.pos = 1 then '[]'::jsonb
        else pg_catalog.jsonb_build_array(v_steps -> (e.pos::int - 2) -> 'slug')
      end
    )
    order by e.pos
  )
  into v_steps
  from pg_catalog.jsonb_array_elements(v_steps) with ordinality as e (step, pos);

  perform pgflow._check_dependencies(_normalize_definition.flow_slug, v_steps);

  return pg_catalog.jsonb_build_object(
    'options', pgflow._normalize_flow_options(_normalize_definition.flow_slug, _normalize_definition.options),
    'steps', v_steps
  );
end;
$$;

-- Called by define_flow: a topological order of the steps (ties broken by definition order),
-- or PF003 with the path of a cycle.
--
-- The order comes from Kahn's algorithm over arrays (linear in steps + edges). When steps are left
-- over, every one of them has a dependency that is also left over, so walking from any of them
-- along left-over dependencies must come back to a step already seen: a recursive CTE does that
-- walk and the repeated part is the cycle.
create or replace function pgflow._topological_order(flow_slug text, steps jsonb)
returns text[]
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_count int := pg_catalog.jsonb_array_length(_topological_order.steps);
  v_slugs text[];
  v_indegree int[];
  v_offsets int[];
  v_dependents int[];
  v_queue int[];
  v_head int := 1;
  v_tail int := 0;
  v_node int;
  v_next int;
  v_left jsonb;
  v_path text[];
  v_start int;
begin
  -- step i (1-based, definition order); edges as (dep index, step index)
  select
    pg_catalog.array_agg(s.step ->> 'slug' order by s.pos),
    pg_catalog.array_agg(pg_catalog.jsonb_array_length(s.step -> 'depends_on') order by s.pos)
  into v_slugs, v_indegree
  from pg_catalog.jsonb_array_elements(_topological_order.steps) with ordinality as s (step, pos);

  with slugs as (
    select s.slug, s.pos::int as pos from pg_catalog.unnest(v_slugs) with ordinality as s (slug, pos)
  ),
  edges as (
    select dep.pos as dep_pos, s.pos::int as node_pos
    from pg_catalog.jsonb_array_elements(_topological_order.steps) with ordinality as s (step, pos)
    cross join lateral pg_catalog.jsonb_array_elements_text(s.step -> 'depends_on') as d (dep)
    inner join slugs as dep on d.dep = dep.slug
  ),
  out_degree as (
    select slugs.pos, pg_catalog.count(edges.dep_pos) as n
    from slugs left join edges on slugs.pos = edges.dep_pos
    group by slugs.pos
  )
  select
    (select pg_catalog.array_agg(e.node_pos order by e.dep_pos, e.node_pos) from edges as e),
    -- v_offsets[i] .. v_offsets[i + 1] - 1 are the positions in v_dependents of step i's dependents
    (
      select pg_catalog.array_agg((1 + coalesce(o.before, 0))::int order by o.pos)
      from (
        select
          od.pos,
          pg_catalog.sum(od.n) over (order by od.pos rows between unbounded preceding and 1 preceding) as before
        from out_degree as od
        union all
        select v_count + 1, (select pg_catalog.count(*) from edges)
      ) as o
    )
  into v_dependents, v_offsets;

  v_queue := pg_catalog.array_fill(0, array[v_count]);
  for v_node in 1 .. v_count loop
    if v_indegree[v_node] = 0 then
      v_tail := v_tail + 1;
      v_queue[v_tail] := v_node;
    end if;
  end loop;

  while v_head <= v_tail loop
    v_node := v_queue[v_head];
    v_head := v_head + 1;
    for v_edge in v_offsets[v_node] .. v_offsets[v_node + 1] - 1 loop
      v_next := v_dependents[v_edge];
      v_indegree[v_next] := v_indegree[v_next] - 1;
      if v_indegree[v_next] = 0 then
        v_tail := v_tail + 1;
        v_queue[v_tail] := v_next;
      end if;
    end loop;
  end loop;

  if v_tail = v_count then
    return array(
      select v_slugs[q.node] from pg_catalog.unnest(v_queue) with ordinality as q (node, pos) order by q.pos
    );
  end if;

  -- A cycle: for every left-over step, the first left-over step it depends on.
  with left_over as (
    select s.slug, s.pos::int as pos
    from pg_catalog.unnest(v_slugs) with ordinality as s (slug, pos)
    where v_indegree[s.pos] > 0
  )
  select pg_catalog.jsonb_object_agg(l.slug, l.next_slug), pg_catalog.min(l.pos)
  into v_left, v_start
  from (
    select lo.slug, lo.pos, pg_catalog.min(d.dep) as next_slug
    from left_over as lo
    cross join lateral
      pg_catalog.jsonb_array_elements_text(_topological_order.steps -> (lo.pos - 1) -> 'depends_on') as d (dep)
    inner join left_over as dl on d.dep = dl.slug
    group by lo.slug, lo.pos
  ) as l;

  with recursive walk (node, path, closed) as (
    select v_slugs[v_start], array[v_slugs[v_start]], false
    union all
    select
      v_left ->> w.node,
      w.path || (v_left ->> w.node),
      (v_left ->> w.node) = any(w.path)
    from walk as w
    where not w.closed
  )
  select w.path into v_path from walk as w where w.closed;

  -- The walk follows dependencies backwards; keep the repeated stretch and show it in
  -- execution order: "a -> b" means b depends on a.
  v_path := v_path[pg_catalog.array_position(v_path, v_path[pg_catalog.array_length(v_path, 1)]) :];
  select pg_catalog.array_agg(p.slug order by p.pos desc) into v_path
  from pg_catalog.unnest(v_path) with ordinality as p (slug, pos);

  raise exception using
    errcode = 'PF003',
    message = pg_catalog.format(
      'flow %L has a dependency cycle: %s (each step depends on the one before it)',
      _topological_order.flow_slug, pg_catalog.array_to_string(v_path, ' -> ')
    ),
    detail = pg_catalog.jsonb_build_object('cycle', pg_catalog.to_jsonb(v_path))::text;
end;
$$;
