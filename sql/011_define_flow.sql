-- Defining flows: define_flow (the whole DAG in one call, versioned) and the pgflow-compatible
-- incremental API create_flow / add_step.
--
-- Versions are matched by content: a definition equal (once normalized) to any version of the flow is that
-- version, and nothing is written; a definition equal to none becomes the next version and the current one.
-- One version of each flow is current (pgflow.flows.is_current): runs start on it, set_current_version moves
-- it (a rollback, or a roll forward again). Two code versions of a flow can thus be deployed side by side:
-- each worker registers its own definition, finds its own version, and polls for that version's tasks only.
--
-- Versions of one flow are created, changed and made current one at a time: every writer first locks the
-- flow's row of pgflow.locks, so two definers never race for the same version number, and start_run never
-- starts a run of a version being changed or while the current version moves (it takes the same row FOR KEY
-- SHARE, then reads the current version).

-- Called by define_flow, create_flow and add_step before they read the current version: the exclusive
-- side of the flow's definition lock (its row of pgflow.locks, made by the flow's first definition).
create or replace function pgflow._lock_flow_definition(flow_slug text)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into pgflow.locks (name) values ('flow:' || _lock_flow_definition.flow_slug) on conflict do nothing;
  perform from pgflow.locks as l where l.name = 'flow:' || _lock_flow_definition.flow_slug for update;
end;
$$;

-- Called by start_run before it reads the current version: the shared side of the same lock. Runs of a flow
-- start side by side, but never while a definition writer changes the flow (add_step appends to the current
-- version until it has runs): a run's step states always equal the steps of the version it records.
create or replace function pgflow._lock_flow_for_start(flow_slug text)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  -- (no row: the flow was never defined, and start_run finds no version of it)
  perform from pgflow.locks as l where l.name = 'flow:' || _lock_flow_for_start.flow_slug for key share;
end;
$$;

-- Called by define_flow and create_flow, holding the flow's definition lock: writes a new version (flow row,
-- steps with effective options, deps) and makes it the current one.
create or replace function pgflow._insert_flow_version(
  flow_slug text, version int, definition jsonb, topological_order text[], created_at timestamptz
)
returns pgflow.flows
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_flow pgflow.flows;
  v_options jsonb := _insert_flow_version.definition -> 'options';
  v_position jsonb;
begin
  -- slug -> position in the topological order
  select pg_catalog.jsonb_object_agg(o.slug, o.pos - 1) into v_position
  from pg_catalog.unnest(_insert_flow_version.topological_order) with ordinality as o (slug, pos);

  -- the new version becomes the current one
  update pgflow.flows as f
  set is_current = false
  where f.flow_slug = _insert_flow_version.flow_slug and f.is_current;

  insert into pgflow.flows (
    flow_slug, version, max_attempts, base_delay, max_delay, timeout, definition, created_at, is_current
  )
  values (
    _insert_flow_version.flow_slug,
    _insert_flow_version.version,
    (v_options ->> 'max_attempts')::int,
    (v_options ->> 'base_delay')::numeric,
    (v_options ->> 'max_delay')::numeric,
    (v_options ->> 'timeout')::numeric,
    _insert_flow_version.definition,
    _insert_flow_version.created_at,
    true
  )
  returning * into v_flow;

  insert into pgflow.steps (
    flow_slug, flow_version, step_slug, step_index, step_type, deps_count,
    max_attempts, base_delay, max_delay, timeout, start_delay,
    condition_if, condition_if_not, when_unmet, when_exhausted, created_at,
    concurrency, concurrency_key, rate_limit, subflow_slug, input_schema, output_schema
  )
  select
    v_flow.flow_slug,
    v_flow.version,
    s.step ->> 'slug',
    (v_position ->> (s.step ->> 'slug'))::int,
    s.step ->> 'type',
    pg_catalog.jsonb_array_length(s.step -> 'depends_on'),
    -- a wait step is never retried, and waits only as long as its own timeout says (none: for ever)
    case
      when s.step ->> 'type' = 'wait' then 1
      else coalesce((s.step ->> 'max_attempts')::int, v_flow.max_attempts)
    end,
    coalesce((s.step ->> 'base_delay')::numeric, v_flow.base_delay),
    coalesce((s.step ->> 'max_delay')::numeric, v_flow.max_delay),
    -- (wait and sub-flow steps have a deadline only from their own timeout: never the flow's; none: for ever)
    case
      when s.step ->> 'type' = 'wait' or s.step ? 'flow' then (s.step ->> 'timeout')::numeric
      else coalesce((s.step ->> 'timeout')::numeric, v_flow.timeout)
    end,
    coalesce((s.step ->> 'start_delay')::numeric, 0),
    nullif(s.step -> 'if', 'null'::jsonb),
    nullif(s.step -> 'if_not', 'null'::jsonb),
    s.step ->> 'when_unmet',
    s.step ->> 'when_exhausted',
    _insert_flow_version.created_at,
    (s.step ->> 'concurrency')::int,
    pgflow._bucket_key_path(s.step),
    s.step -> 'rate_limit',
    s.step ->> 'flow',
    s.step -> 'input_schema',
    s.step -> 'output_schema'
  from pg_catalog.jsonb_array_elements(_insert_flow_version.definition -> 'steps') as s (step);

  insert into pgflow.deps (flow_slug, flow_version, dep_slug, step_slug)
  select v_flow.flow_slug, v_flow.version, d.dep, s.step ->> 'slug'
  from pg_catalog.jsonb_array_elements(_insert_flow_version.definition -> 'steps') as s (step)
  cross join lateral pg_catalog.jsonb_array_elements_text(s.step -> 'depends_on') as d (dep);

  return v_flow;
end;
$$;

-- Called by define_flow and find_flow_versions: the versions of a flow whose normalized definition equals the
-- given one, current first, then newest first. (Versions written before 0.3.0 may repeat a definition: a
-- definition then came back as a new version.) Reads every version of the flow, by the primary key.
create or replace function pgflow._matching_versions(flow_slug text, definition jsonb)
returns int[]
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(pg_catalog.array_agg(f.version order by f.is_current desc, f.version desc), '{}')
  from pgflow.flows as f
  where f.flow_slug = _matching_versions.flow_slug and f.definition = _matching_versions.definition
$$;

-- Called by clients (the Python Flow DSL, workers, SQL users) to define or redefine a flow.
create or replace function pgflow.define_flow(flow_slug text, steps jsonb, options jsonb default '{}')
returns pgflow.flows
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_definition jsonb;
  v_order text[];
  v_match int[];
  v_flow pgflow.flows;
begin
  -- validate everything before writing anything
  v_definition := pgflow._normalize_definition(define_flow.flow_slug, define_flow.steps, define_flow.options);
  v_order := pgflow._topological_order(define_flow.flow_slug, v_definition -> 'steps');

  perform pgflow._lock_flow_definition(define_flow.flow_slug);

  -- a definition equal to any version is that version (current or not): nothing is written, nothing moves
  v_match := pgflow._matching_versions(define_flow.flow_slug, v_definition);
  if pg_catalog.cardinality(v_match) > 0 then
    select f.* into v_flow
    from pgflow.flows as f
    where f.flow_slug = define_flow.flow_slug and f.version = v_match[1];
    return v_flow;
  end if;

  -- a new version: the rules that apply to new definitions only (versions written before them stay usable)
  perform pgflow._check_conditions(define_flow.flow_slug, v_definition -> 'steps');
  -- child flows exist, and no flow contains itself (sql/024_subflows.sql)
  perform pgflow._check_subflows(define_flow.flow_slug, v_definition -> 'steps');

  return pgflow._insert_flow_version(
    define_flow.flow_slug,
    coalesce(
      (select pg_catalog.max(f.version) from pgflow.flows as f where f.flow_slug = define_flow.flow_slug), 0
    ) + 1,
    v_definition,
    v_order,
    pgflow.now()
  );
end;
$$;

comment on function pgflow.define_flow(text, jsonb, jsonb) is
'Defines a flow from a JSON array of steps. Versions are matched by content: a definition equal (once normalized) '
'to any version of the flow returns that version (the current one if several are equal, else the newest) and '
'writes nothing, without making it current; a definition equal to none becomes version N+1 and the current version '
'(runs in flight keep theirs). Returns the pgflow.flows row (is_current says whether it is current). Errors: PF001 '
'invalid (for a new version also: a dependent step''s if/if_not must be an object keyed by its dependencies, a map '
'step''s an array or a scalar; flow-control options concurrency, concurrency_key, rate_limit out of their rules; a '
'sub-flow step {"flow": "child"} with start_delay, base_delay, max_delay or flow control; a wait step, "type": '
'"wait", with an option other than depends_on, timeout, if, if_not, when_unmet, when_exhausted; an input_schema or '
'output_schema, the JSON Schemas of a typed step, that is not an object), PF002 unknown '
'dependencies, PF003 cycle (of steps, or of flows through sub-flow steps, any version counting), PF004 a sub-flow '
'step''s child flow does not exist.';

-- Called by workers that do not define their flows (pgflow.Worker(define=False)) and by deploy tools: which
-- versions of a flow have exactly this definition, without writing anything.
create or replace function pgflow.find_flow_versions(flow_slug text, steps jsonb, options jsonb default '{}')
returns int[]
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
  return pgflow._matching_versions(
    find_flow_versions.flow_slug,
    pgflow._normalize_definition(find_flow_versions.flow_slug, find_flow_versions.steps, find_flow_versions.options)
  );
end;
$$;

comment on function pgflow.find_flow_versions(text, jsonb, jsonb) is
'The versions of a flow whose definition equals this one (the arguments of define_flow), current first, then '
'newest first; an empty array when none does or the flow does not exist. Writes nothing. Errors as define_flow: '
'PF001 invalid, PF002 unknown dependencies (PF003 cycles are not looked for: a cycle equals no version).';

-- Called by operators (`pgflow set-version`, Client.set_current_version) to roll back to an older version or
-- forward again: runs started from now on use this version; runs in flight keep theirs.
create or replace function pgflow.set_current_version(flow_slug text, version int)
returns pgflow.flows
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_flow pgflow.flows;
  v_versions text;
begin
  perform pgflow._check_not_null('set_current_version', 'flow_slug', set_current_version.flow_slug is null);
  perform pgflow._check_not_null('set_current_version', 'version', set_current_version.version is null);

  -- (an unknown flow has no lock row to take: the lookup below finds nothing)
  perform from pgflow.locks as l where l.name = 'flow:' || set_current_version.flow_slug for update;

  select f.* into v_flow
  from pgflow.flows as f
  where f.flow_slug = set_current_version.flow_slug and f.version = set_current_version.version;
  if not found then
    select pg_catalog.format('%s to %s', pg_catalog.min(f.version), pg_catalog.max(f.version)) into v_versions
    from pgflow.flows as f
    where f.flow_slug = set_current_version.flow_slug
    having pg_catalog.count(*) > 0;
    raise exception using
      errcode = 'PF004',
      message = case
        when v_versions is null then pg_catalog.format(
          'flow %s does not exist, so version %s of it cannot be made current',
          pgflow._shown(set_current_version.flow_slug), set_current_version.version
        )
        else pg_catalog.format(
          'flow %s has no version %s (its versions are %s)',
          pgflow._shown(set_current_version.flow_slug), set_current_version.version, v_versions
        )
      end;
  end if;

  if not v_flow.is_current then
    update pgflow.flows as f
    set is_current = false
    where f.flow_slug = set_current_version.flow_slug and f.is_current;
    update pgflow.flows as f
    set is_current = true
    where f.flow_slug = set_current_version.flow_slug and f.version = set_current_version.version
    returning f.* into v_flow;
  end if;
  return v_flow;
end;
$$;

comment on function pgflow.set_current_version(text, int) is
'Makes a version of a flow the current one (a rollback, or a roll forward again): runs started from now on use it, '
'runs in flight keep their own. Returns its pgflow.flows row; a version already current is returned unchanged. '
'PF004 when the flow or the version does not exist; PF005 for a null argument.';

-- Called by SQL written for pgflow's TypeScript edition: creates version 1 of an empty flow.
create or replace function pgflow.create_flow(
  flow_slug text, max_attempts int default null, base_delay int default null, timeout int default null
)
returns pgflow.flows
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_flow pgflow.flows;
  v_options jsonb;
begin
  perform pgflow._check_slug('flow', create_flow.flow_slug);
  v_options := pgflow._normalize_flow_options(
    create_flow.flow_slug,
    pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
      -- pgflow allows 0 attempts, which runs a task once, as 1 does
      'max_attempts', case when create_flow.max_attempts = 0 then 1 else create_flow.max_attempts end,
      'base_delay', create_flow.base_delay,
      'timeout', create_flow.timeout
    ))
  );

  perform pgflow._lock_flow_definition(create_flow.flow_slug);

  select f.* into v_flow
  from pgflow.flows as f
  where f.flow_slug = create_flow.flow_slug and f.is_current;
  if found then
    return v_flow;
  end if;

  return pgflow._insert_flow_version(
    create_flow.flow_slug, 1, pg_catalog.jsonb_build_object('options', v_options, 'steps', '[]'::jsonb),
    '{}', pgflow.now()
  );
end;
$$;

comment on function pgflow.create_flow(text, int, int, int) is
'pgflow-compatible (pgflow''s parameter list): creates version 1 of an empty flow, or returns the current version '
'when the flow exists (its options unchanged). Options left null take this engine''s defaults (max_attempts 3, '
'base_delay 1 s, timeout 60 s); max_attempts 0 means one attempt, as in pgflow. PF001 for a bad slug or option.';

-- Called by add_step: a condition pattern as pgflow writes it (argument `argument`, a JSON object matched against
-- the step's input: the run input for a root step, {dependency: output} for a dependent one) turned into this
-- engine's `if`/`if_not`. Single and wait steps keep it as it is. A map step's condition here is matched against
-- the array it maps over, so pgflow's {dep: [elements]} becomes [elements] and {} becomes [] (met by every
-- array); a pattern pgflow could never match on a map step (another key, a non-array under the dependency, any
-- pattern on a root map, whose input is an array) is refused with PF001 rather than stored as a dead condition.
create or replace function pgflow._pgflow_pattern(
  flow_slug text, step_slug text, step_type text, deps_slugs text[], argument text, pattern jsonb
)
returns jsonb
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_owner text := pg_catalog.format(
    'add_step: flow %L, step %L', _pgflow_pattern.flow_slug, _pgflow_pattern.step_slug
  );
  v_dep text;
begin
  if _pgflow_pattern.pattern is null or _pgflow_pattern.pattern = 'null'::jsonb then
    return null;
  end if;
  if pg_catalog.jsonb_typeof(_pgflow_pattern.pattern) <> 'object' then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        '%s: %s must be a JSON object (a containment pattern over the step''s input), got %s',
        v_owner, _pgflow_pattern.argument, pgflow._shown(_pgflow_pattern.pattern::text)
      );
  end if;
  if coalesce(_pgflow_pattern.step_type, 'single') <> 'map'
     or coalesce(pg_catalog.cardinality(_pgflow_pattern.deps_slugs), 0) > 1 then
    return _pgflow_pattern.pattern;
  end if;

  if coalesce(pg_catalog.cardinality(_pgflow_pattern.deps_slugs), 0) = 0 then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        '%s: a root map step''s input is the run input, an array, which the object %s %s can never match; '
        'put the condition on a step before the map instead',
        v_owner, _pgflow_pattern.argument, pgflow._shown(_pgflow_pattern.pattern::text)
      );
  end if;

  v_dep := _pgflow_pattern.deps_slugs[1];
  if _pgflow_pattern.pattern = '{}'::jsonb then
    return '[]'::jsonb;
  end if;
  if (select pg_catalog.array_agg(k.key) from pg_catalog.jsonb_object_keys(_pgflow_pattern.pattern) as k (key))
     = array[v_dep]
     and pg_catalog.jsonb_typeof(_pgflow_pattern.pattern -> v_dep) = 'array' then
    return _pgflow_pattern.pattern -> v_dep;
  end if;
  raise exception using
    errcode = 'PF001',
    message = pg_catalog.format(
      '%s: %s of a map step must be {"%s": [elements the array must contain]} (or {}), got %s',
      v_owner, _pgflow_pattern.argument, v_dep, pgflow._shown(_pgflow_pattern.pattern::text)
    );
end;
$$;

-- Called by SQL written for pgflow's TypeScript edition: appends a step to the current version.
create or replace function pgflow.add_step(
  flow_slug text,
  step_slug text,
  deps_slugs text[] default '{}',
  max_attempts int default null,
  base_delay int default null,
  timeout int default null,
  start_delay int default null,
  step_type text default 'single',
  required_input_pattern jsonb default null,
  forbidden_input_pattern jsonb default null,
  when_unmet text default 'skip',
  when_exhausted text default 'fail',
  concurrency int default null,
  concurrency_key text[] default null,
  rate_limit jsonb default null
)
returns pgflow.steps
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_flow pgflow.flows;
  v_step jsonb;
  v_existing jsonb;
  v_steps jsonb;
  v_row pgflow.steps;
  v_if jsonb;
  v_if_not jsonb;
begin
  perform pgflow._check_slug('flow', add_step.flow_slug);
  perform pgflow._check_list('add_step', 'deps_slugs', add_step.deps_slugs);
  v_if := pgflow._pgflow_pattern(
    add_step.flow_slug, add_step.step_slug, add_step.step_type, add_step.deps_slugs,
    'required_input_pattern', add_step.required_input_pattern
  );
  v_if_not := pgflow._pgflow_pattern(
    add_step.flow_slug, add_step.step_slug, add_step.step_type, add_step.deps_slugs,
    'forbidden_input_pattern', add_step.forbidden_input_pattern
  );
  perform pgflow._lock_flow_definition(add_step.flow_slug);

  select f.* into v_flow
  from pgflow.flows as f
  where f.flow_slug = add_step.flow_slug and f.is_current;
  if not found then
    raise exception using
      errcode = 'PF004',
      message = pg_catalog.format(
        'flow %L does not exist; create it with create_flow or define_flow', add_step.flow_slug
      );
  end if;

  v_steps := v_flow.definition -> 'steps';
  v_step := pgflow._normalize_steps(
    add_step.flow_slug,
    pg_catalog.jsonb_build_array(pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
      'slug', add_step.step_slug,
      'depends_on', pg_catalog.to_jsonb(coalesce(add_step.deps_slugs, '{}'::text[])),
      'type', add_step.step_type,
      -- pgflow allows 0 attempts, which runs a task once, as 1 does
      'max_attempts', case when add_step.max_attempts = 0 then 1 else add_step.max_attempts end,
      'base_delay', add_step.base_delay,
      'timeout', add_step.timeout,
      'start_delay', add_step.start_delay,
      'if', v_if,
      'if_not', v_if_not,
      'when_unmet', add_step.when_unmet,
      'when_exhausted', add_step.when_exhausted,
      'concurrency', add_step.concurrency,
      'concurrency_key', pg_catalog.to_jsonb(add_step.concurrency_key),
      'rate_limit', add_step.rate_limit
    ))),
    pg_catalog.jsonb_array_length(v_steps) + 1
  ) -> 0;

  select s.step into v_existing
  from pg_catalog.jsonb_array_elements(v_steps) as s (step)
  where s.step ->> 'slug' = add_step.step_slug;

  if v_existing is not null then
    if v_existing <> v_step then
      raise exception using
        errcode = 'PF001',
        message = pg_catalog.format(
          'flow %L, step %L already exists with a different definition; use define_flow to create a new version',
          add_step.flow_slug, add_step.step_slug
        );
    end if;
    select s.* into v_row
    from pgflow.steps as s
    where s.flow_slug = v_flow.flow_slug and s.flow_version = v_flow.version and s.step_slug = add_step.step_slug;
    return v_row;
  end if;

  if add_step.step_slug = any(add_step.deps_slugs) then
    raise exception using
      errcode = 'PF003',
      message = pg_catalog.format(
        'flow %L has a dependency cycle: %s -> %s (a step cannot depend on itself)',
        add_step.flow_slug, add_step.step_slug, add_step.step_slug
      );
  end if;
  perform pgflow._check_dependencies(add_step.flow_slug, v_steps || pg_catalog.jsonb_build_array(v_step));
  perform pgflow._check_conditions(add_step.flow_slug, pg_catalog.jsonb_build_array(v_step));

  if exists (
    select from pgflow.runs as r
    where r.flow_slug = v_flow.flow_slug and r.flow_version = v_flow.version
  ) then
    raise exception using
      errcode = 'PF008',
      message = pg_catalog.format(
        'flow %L version %s already has runs, so its steps cannot change; use define_flow to create a new version',
        v_flow.flow_slug, v_flow.version
      );
  end if;

  insert into pgflow.steps (
    flow_slug, flow_version, step_slug, step_index, step_type, deps_count,
    max_attempts, base_delay, max_delay, timeout, start_delay,
    condition_if, condition_if_not, when_unmet, when_exhausted, created_at,
    concurrency, concurrency_key, rate_limit
  )
  values (
    v_flow.flow_slug,
    v_flow.version,
    add_step.step_slug,
    pg_catalog.jsonb_array_length(v_steps),
    v_step ->> 'type',
    pg_catalog.jsonb_array_length(v_step -> 'depends_on'),
    -- a wait step is never retried, and waits only as long as its own timeout says (none: for ever)
    case
      when v_step ->> 'type' = 'wait' then 1
      else coalesce((v_step ->> 'max_attempts')::int, v_flow.max_attempts)
    end,
    coalesce((v_step ->> 'base_delay')::numeric, v_flow.base_delay),
    coalesce((v_step ->> 'max_delay')::numeric, v_flow.max_delay),
    case
      when v_step ->> 'type' = 'wait' then (v_step ->> 'timeout')::numeric
      else coalesce((v_step ->> 'timeout')::numeric, v_flow.timeout)
    end,
    coalesce((v_step ->> 'start_delay')::numeric, 0),
    nullif(v_step -> 'if', 'null'::jsonb),
    nullif(v_step -> 'if_not', 'null'::jsonb),
    v_step ->> 'when_unmet',
    v_step ->> 'when_exhausted',
    pgflow.now(),
    (v_step ->> 'concurrency')::int,
    pgflow._bucket_key_path(v_step),
    v_step -> 'rate_limit'
  )
  returning * into v_row;

  insert into pgflow.deps (flow_slug, flow_version, dep_slug, step_slug)
  select v_flow.flow_slug, v_flow.version, d.dep, add_step.step_slug
  from pg_catalog.jsonb_array_elements_text(v_step -> 'depends_on') as d (dep);

  update pgflow.flows as f
  set definition = pg_catalog.jsonb_set(f.definition, '{steps}', v_steps || pg_catalog.jsonb_build_array(v_step))
  where f.flow_slug = v_flow.flow_slug and f.version = v_flow.version;

  return v_row;
end;
$$;

comment on function pgflow.add_step(
  text, text, text[], int, int, int, int, text, jsonb, jsonb, text, text, int, text[], jsonb
) is
'pgflow-compatible (the parameter list of pgflow''s SQL core, names, order and defaults, then this engine''s own): '
'adds a step to the current version of a flow. Dependencies must exist already (PF002); re-adding an identical '
'step is a no-op, a different one PF001; a version that has runs cannot change (PF008). required_input_pattern '
'and forbidden_input_pattern are JSON objects matched with @> against the step''s input (the run input for a root '
'step, {dependency: output} for a dependent one): define_flow''s if and if_not; on a map step {"dep": [elements]} '
'becomes if [elements]. when_unmet ''skip'' (default), ''skip-cascade'' or ''fail''; when_exhausted ''fail'' '
'(default), ''skip'' or ''skip-cascade''. max_attempts 0 means one attempt, as in pgflow. concurrency, '
'concurrency_key (a path into the run input) and rate_limit ({"limit": n, "per": seconds[, "key": path]}) are '
'the flow-control options of define_flow. step_type ''single'', ''map'' or ''wait'' (a wait step takes no '
'max_attempts, base_delay, start_delay or flow control, and no timeout but its own). PF001 for any invalid value.';
