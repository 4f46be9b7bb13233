-- Validation and normalization of flow definitions, shared by define_flow, create_flow and add_step.
--
-- A definition is checked completely before anything is written:
--   PF001  a bad slug, option, type or mode, a duplicate step, an unknown key, a map with >1 dependency
--   PF002  dependencies on steps that do not exist (every one of them is listed)
--   PF003  a cycle, reported with its path
-- The normalized form (every key explicit, dependencies sorted) is what define_flow compares to
-- decide whether a definition is new.
--
-- Conditions (if, if_not) are any JSON at this stage: what a step's pattern may be depends on its
-- dependencies, and is checked by _check_conditions for new versions only (versions written before the
-- rule keep matching their definitions).

-- Called by the validators: PF001 unless the slug is 1-128 letters, digits and underscores.
create or replace function pgflow._check_slug(what text, slug text)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  if _check_slug.slug is null
     or _check_slug.slug !~ '^[a-zA-Z_][a-zA-Z0-9_]*$'
     or pg_catalog.length(_check_slug.slug) > 128 then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        '%s %s is not a valid slug: use 1 to 128 letters, digits and underscores, not starting with a digit',
        _check_slug.what, pgflow._shown(_check_slug.slug)
      );
  end if;
end;
$$;

-- The rules of step and flow options, in one place: _option_is_valid and _option_rule are what every
-- validator reads (the set-based check of whole definitions, and the per-step check that words the
-- error). Integers are written as integers (2, not 2.0); seconds are numbers; every bound keeps the value
-- a valid interval and a reachable deadline (a timeout under 0.1 s could not be met by any worker).
create or replace function pgflow._option_is_valid(option_name text, option_value jsonb)
returns boolean
language sql
immutable
parallel safe
as $$
  select case
    when coalesce(pg_catalog.jsonb_typeof(_option_is_valid.option_value), 'null') = 'null' then true
    when pg_catalog.jsonb_typeof(_option_is_valid.option_value) <> 'number' then false
    when _option_is_valid.option_name = 'max_attempts' then
      (_option_is_valid.option_value #>> '{}') ~ '^[0-9]{1,10}$'
      and (_option_is_valid.option_value #>> '{}')::numeric between 1 and 2147483647
    when _option_is_valid.option_name = 'timeout' then
      (_option_is_valid.option_value #>> '{}')::numeric between 0.1 and 3153600000
    else (_option_is_valid.option_value #>> '{}')::numeric between 0 and 3153600000
  end
$$;

-- Called by _check_option: what a valid value of the option is, as words for the error message.
create or replace function pgflow._option_rule(option_name text)
returns text
language sql
immutable
parallel safe
as $$
  select case _option_rule.option_name
    when 'max_attempts' then 'an integer from 1 to 2147483647'
    when 'timeout' then 'a number of seconds from 0.1 to 3153600000 (100 years)'
    else 'a number of seconds from 0 to 3153600000 (100 years)'
  end
$$;

-- The keys a step object may have, in one place.
create or replace function pgflow._step_keys()
returns text[]
language sql
immutable
parallel safe
as $$
  select array[
    'slug', 'depends_on', 'type', 'max_attempts', 'base_delay', 'max_delay', 'timeout', 'start_delay',
    'if', 'if_not', 'when_unmet', 'when_exhausted', 'concurrency', 'concurrency_key', 'rate_limit', 'flow',
    'input_schema', 'output_schema'
  ]
$$;

-- Called by _flow_control_error: whether a JSON value is a key path (an array of 1 to 16 strings).
create or replace function pgflow._is_key_path(path jsonb)
returns boolean
language sql
immutable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
  select case
    when pg_catalog.jsonb_typeof(_is_key_path.path) is distinct from 'array' then false
    else pg_catalog.jsonb_array_length(_is_key_path.path) between 1 and 16
      and not exists (
        select from pg_catalog.jsonb_array_elements(_is_key_path.path) as e (element)
        where pg_catalog.jsonb_typeof(e.element) <> 'string'
      )
  end
$$;

-- Called by the validators for a step that has any of the flow-control options: what is wrong with them, as
-- the end of a PF001 message, or null when they are valid. concurrency: an integer from 1; concurrency_key: a
-- path into the run input (as with #>: a JSON array of 1 to 16 strings), only with concurrency or rate_limit;
-- rate_limit: {"limit": an integer from 1, "per": seconds from 0.001, optional "key": a path}. A task has one
-- bucket: concurrency_key and rate_limit.key, when both are given, must be the same path.
create or replace function pgflow._flow_control_error(step jsonb)
returns text
language sql
immutable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
  with options as (
    select
      nullif(_flow_control_error.step -> 'concurrency', 'null'::jsonb) as concurrency,
      nullif(_flow_control_error.step -> 'concurrency_key', 'null'::jsonb) as concurrency_key,
      nullif(_flow_control_error.step -> 'rate_limit', 'null'::jsonb) as rate_limit
  )
  select case
    when o.concurrency is not null and not (
      pg_catalog.jsonb_typeof(o.concurrency) = 'number'
      and (o.concurrency #>> '{}') ~ '^[0-9]{1,10}$'
      and (o.concurrency #>> '{}')::numeric between 1 and 2147483647
    ) then pg_catalog.format(
      'option concurrency must be an integer from 1 to 2147483647, got %s', pgflow._shown(o.concurrency::text)
    )
    when o.concurrency_key is not null and not pgflow._is_key_path(o.concurrency_key) then pg_catalog.format(
      'option concurrency_key must be a path into the run input, a JSON array of 1 to 16 strings (as with #>), got %s',
      pgflow._shown(o.concurrency_key::text)
    )
    when o.rate_limit is not null and case
      when pg_catalog.jsonb_typeof(o.rate_limit) <> 'object' then true
      else not (o.rate_limit ? 'limit' and o.rate_limit ? 'per')
        or exists (
          select from pg_catalog.jsonb_object_keys(o.rate_limit) as k (key) where k.key not in ('limit', 'per', 'key')
        )
    end then pg_catalog.format(
      'option rate_limit must be a JSON object {"limit": n, "per": seconds} with an optional "key" path, got %s',
      pgflow._shown(o.rate_limit::text)
    )
    when o.rate_limit is not null and not (
      pg_catalog.jsonb_typeof(o.rate_limit -> 'limit') = 'number'
      and (o.rate_limit ->> 'limit') ~ '^[0-9]{1,10}$'
      and (o.rate_limit ->> 'limit')::numeric between 1 and 2147483647
    ) then pg_catalog.format(
      'option rate_limit: limit must be an integer from 1 to 2147483647, got %s',
      pgflow._shown((o.rate_limit -> 'limit')::text)
    )
    when o.rate_limit is not null and not (
      pg_catalog.jsonb_typeof(o.rate_limit -> 'per') = 'number'
      and (o.rate_limit ->> 'per')::numeric between 0.001 and 3153600000
    ) then pg_catalog.format(
      'option rate_limit: per must be a number of seconds from 0.001 to 3153600000 (100 years), got %s',
      pgflow._shown((o.rate_limit -> 'per')::text)
    )
    when coalesce(o.rate_limit -> 'key', 'null'::jsonb) <> 'null'::jsonb
      and not pgflow._is_key_path(o.rate_limit -> 'key') then pg_catalog.format(
      'option rate_limit: key must be a path into the run input, a JSON array of 1 to 16 strings (as with #>), got %s',
      pgflow._shown((o.rate_limit -> 'key')::text)
    )
    when o.concurrency_key is not null and o.concurrency is null and o.rate_limit is null then
      'option concurrency_key needs concurrency or rate_limit (it names the bucket they count per value)'
    when o.concurrency_key is not null and coalesce(o.rate_limit -> 'key', 'null'::jsonb) <> 'null'::jsonb
      and o.concurrency_key <> o.rate_limit -> 'key' then pg_catalog.format(
      'options concurrency_key %s and rate_limit.key %s must be the same path: a task counts in one bucket',
      pgflow._shown(o.concurrency_key::text), pgflow._shown((o.rate_limit -> 'key')::text)
    )
  end
  from options as o
$$;


-- Called by the validators for a valid step: its flow-control options in normalized form, only those it has
-- (a definition without them normalizes as it did before they existed): {"concurrency": n, "concurrency_key":
-- path, "rate_limit": {"limit": n, "per": seconds[, "key": path]}}.
create or replace function pgflow._flow_control_options(step jsonb)
returns jsonb
language sql
immutable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
    'concurrency', (nullif(_flow_control_options.step -> 'concurrency', 'null'::jsonb) #>> '{}')::int,
    'concurrency_key', nullif(_flow_control_options.step -> 'concurrency_key', 'null'::jsonb),
    'rate_limit', case
      when coalesce(_flow_control_options.step -> 'rate_limit', 'null'::jsonb) <> 'null'::jsonb then
        pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
          'limit', (_flow_control_options.step -> 'rate_limit' ->> 'limit')::int,
          'per', (_flow_control_options.step -> 'rate_limit' ->> 'per')::numeric,
          'key', nullif(_flow_control_options.step -> 'rate_limit' -> 'key', 'null'::jsonb)
        ))
    end
  ))
$$;

-- Called by the validators for a valid step: the JSON Schemas of a typed step in normalized form, only those it
-- has (a definition without them normalizes as it did before they existed): {"input_schema": {...},
-- "output_schema": {...}}.
create or replace function pgflow._schema_options(step jsonb)
returns jsonb
language sql
immutable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
  -- (not jsonb_strip_nulls: it would strip the nulls inside a schema too, such as "default": null)
  select case
    when coalesce(_schema_options.step -> 'input_schema', 'null'::jsonb) = 'null'::jsonb then '{}'::jsonb
    else pg_catalog.jsonb_build_object('input_schema', _schema_options.step -> 'input_schema')
  end || case
    when coalesce(_schema_options.step -> 'output_schema', 'null'::jsonb) = 'null'::jsonb then '{}'::jsonb
    else pg_catalog.jsonb_build_object('output_schema', _schema_options.step -> 'output_schema')
  end
$$;

-- Called by _insert_flow_version and add_step: the bucket key path of a normalized step (concurrency_key, else
-- rate_limit.key), stored as steps.concurrency_key; null when the step has none.
create or replace function pgflow._bucket_key_path(step jsonb)
returns text[]
language sql
immutable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
  select case
    when pg_catalog.jsonb_typeof(
      coalesce(_bucket_key_path.step -> 'concurrency_key', _bucket_key_path.step -> 'rate_limit' -> 'key')
    ) = 'array' then array(
      select p.element
      from pg_catalog.jsonb_array_elements_text(
        coalesce(_bucket_key_path.step -> 'concurrency_key', _bucket_key_path.step -> 'rate_limit' -> 'key')
      ) with ordinality as p (element, pos)
      order by p.pos
    )
  end
$$;

-- Called by the validators: checks one option value (a JSON value) and returns it as numeric,
-- or null when it is absent or JSON null. PF001 when it breaks the option's rule.
create or replace function pgflow._check_option(owner text, option_name text, option_value jsonb)
returns numeric
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  if not pgflow._option_is_valid(_check_option.option_name, _check_option.option_value) then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        '%s: option %s must be %s, got %s',
        _check_option.owner, _check_option.option_name, pgflow._option_rule(_check_option.option_name),
        pgflow._shown(_check_option.option_value::text)
      );
  end if;
  return (nullif(_check_option.option_value, 'null'::jsonb) #>> '{}')::numeric;
end;
$$;

-- Called by define_flow and create_flow: validates flow-level options and returns them complete,
-- defaults filled in: {"max_attempts", "base_delay", "max_delay", "timeout"}.
create or replace function pgflow._normalize_flow_options(flow_slug text, options jsonb)
returns jsonb
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
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
        '%s: options must be a JSON object, got %s', v_owner, pgflow._shown(_normalize_flow_options.options::text)
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
        v_owner, pgflow._shown(v_unknown)
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

-- Called by _normalize_steps for a definition it found invalid: validates one step object, raising
-- the PF001 that says what is wrong with it, and returns it with every key explicit. depends_on is
-- taken as given (null when absent): the caller resolves it.
create or replace function pgflow._normalize_step(flow_slug text, step jsonb, step_position int)
returns jsonb
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_slug text;
  v_owner text;
  v_unknown text;
  v_type text;
  v_deps jsonb;
  v_when_unmet text;
  v_when_exhausted text;
  v_flow_control_error text;
begin
  if pg_catalog.jsonb_typeof(_normalize_step.step) is distinct from 'object' then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        'flow %L: step #%s must be a JSON object with at least a "slug", got %s',
        _normalize_step.flow_slug, _normalize_step.step_position, pgflow._shown(_normalize_step.step::text)
      );
  end if;

  if pg_catalog.jsonb_typeof(_normalize_step.step -> 'slug') is distinct from 'string' then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        'flow %L: step #%s needs a "slug" string, got %s',
        _normalize_step.flow_slug, _normalize_step.step_position,
        coalesce(pgflow._shown((_normalize_step.step -> 'slug')::text), 'nothing')
      );
  end if;
  v_slug := _normalize_step.step ->> 'slug';
  perform pgflow._check_slug(pg_catalog.format('flow %L: step', _normalize_step.flow_slug), v_slug);
  v_owner := pg_catalog.format('flow %L, step %L', _normalize_step.flow_slug, v_slug);

  select pg_catalog.string_agg(k.key, ', ' order by k.key) into v_unknown
  from pg_catalog.jsonb_object_keys(_normalize_step.step) as k (key)
  where not (k.key = any(pgflow._step_keys()));
  if v_unknown is not null then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        '%s: unknown key(s) %s; a step takes %s',
        v_owner, pgflow._shown(v_unknown), pg_catalog.array_to_string(pgflow._step_keys(), ', ')
      );
  end if;

  v_type := coalesce(_normalize_step.step ->> 'type', 'single');
  if v_type not in ('single', 'map', 'wait')
     or pg_catalog.jsonb_typeof(_normalize_step.step -> 'type') not in ('string', 'null') then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        '%s: type must be "single", "map" or "wait", got %s', v_owner,
        pgflow._shown((_normalize_step.step -> 'type')::text)
      );
  end if;
  -- a wait step takes only the options that mean something for it (023_wait_steps.sql)
  if v_type = 'wait' and pgflow._wait_step_error(_normalize_step.step) is not null then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format('%s: %s', v_owner, pgflow._wait_step_error(_normalize_step.step));
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
        message = pg_catalog.format(
          '%s: depends_on must be an array of step slugs, got %s', v_owner, pgflow._shown(v_deps::text)
        );
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
        '%s: when_unmet must be "skip", "skip-cascade" or "fail", got %s',
        v_owner, pgflow._shown((_normalize_step.step -> 'when_unmet')::text)
      );
  end if;
  v_when_exhausted := coalesce(_normalize_step.step ->> 'when_exhausted', 'fail');
  if v_when_exhausted not in ('fail', 'skip', 'skip-cascade') then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        '%s: when_exhausted must be "fail", "skip" or "skip-cascade", got %s',
        v_owner, pgflow._shown((_normalize_step.step -> 'when_exhausted')::text)
      );
  end if;

  v_flow_control_error := pgflow._flow_control_error(_normalize_step.step);
  if v_flow_control_error is not null then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format('%s: %s', v_owner, v_flow_control_error);
  end if;

  -- a typed step: each JSON Schema is an object (or null: none)
  if coalesce(pg_catalog.jsonb_typeof(_normalize_step.step -> 'input_schema'), 'null') not in ('object', 'null') then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        '%s: input_schema must be a JSON Schema (a JSON object) or null, got %s',
        v_owner, pgflow._shown((_normalize_step.step -> 'input_schema')::text)
      );
  end if;
  if coalesce(pg_catalog.jsonb_typeof(_normalize_step.step -> 'output_schema'), 'null') not in ('object', 'null') then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        '%s: output_schema must be a JSON Schema (a JSON object) or null, got %s',
        v_owner, pgflow._shown((_normalize_step.step -> 'output_schema')::text)
      );
  end if;

  -- a sub-flow step (sql/024_subflows.sql)
  if pgflow._subflow_error(_normalize_step.step) is not null then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format('%s: %s', v_owner, pgflow._subflow_error(_normalize_step.step));
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
  ) || pgflow._flow_control_options(_normalize_step.step)
  -- the child flow of a sub-flow step, only when there is one (other definitions normalize as before)
  || pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
    'flow', nullif(_normalize_step.step -> 'flow', 'null'::jsonb)
  ))
  -- the JSON Schemas of a typed step, only when it has them (other definitions normalize as before)
  || pgflow._schema_options(_normalize_step.step);
end;
$$;

-- Called by _normalize_definition and add_step: every step of a JSON array validated and normalized as
-- _normalize_step does, set-based: one pass over all the steps checks them, a second builds their
-- normalized form (a 10,000-step definition takes one pass, not 10,000 function calls). When the check
-- finds a problem, _normalize_step goes through the steps in order and raises the error of the first
-- bad one, with its message. first_position numbers the steps in messages.
create or replace function pgflow._normalize_steps(flow_slug text, steps jsonb, first_position int default 1)
returns jsonb
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_valid boolean;
  v_normalized jsonb;
begin
  select coalesce(pg_catalog.bool_and(coalesce(
    pg_catalog.jsonb_typeof(e.step) = 'object'
    and pg_catalog.jsonb_typeof(e.step -> 'slug') = 'string'
    and (e.step ->> 'slug') ~ '^[a-zA-Z_][a-zA-Z0-9_]*$'
    and pg_catalog.length(e.step ->> 'slug') <= 128
    and not exists (
      select from pg_catalog.jsonb_object_keys(e.step) as k (key)
      where not (k.key = any(pgflow._step_keys()))
    )
    and coalesce(e.step ->> 'type', 'single') in ('single', 'map', 'wait')
    and coalesce(pg_catalog.jsonb_typeof(e.step -> 'type'), 'null') in ('string', 'null')
    and (e.step ->> 'type' is distinct from 'wait' or pgflow._wait_step_error(e.step) is null)
    and coalesce(e.step ->> 'when_unmet', 'skip') in ('skip', 'skip-cascade', 'fail')
    and coalesce(e.step ->> 'when_exhausted', 'fail') in ('fail', 'skip', 'skip-cascade')
    and case coalesce(pg_catalog.jsonb_typeof(e.step -> 'depends_on'), 'null')
      when 'null' then true
      when 'array' then not exists (
        select from pg_catalog.jsonb_array_elements(e.step -> 'depends_on') as d (dep)
        where pg_catalog.jsonb_typeof(d.dep) <> 'string'
      )
      else false
    end
    and not exists (
      select
      from (values ('max_attempts'), ('base_delay'), ('max_delay'), ('timeout'), ('start_delay')) as o (key)
      where not pgflow._option_is_valid(o.key, e.step -> o.key)
    )
    and (
      not (e.step ?| array['concurrency', 'concurrency_key', 'rate_limit'])
      or pgflow._flow_control_error(e.step) is null
    )
    and (not e.step ? 'flow' or pgflow._subflow_error(e.step) is null)
    and coalesce(pg_catalog.jsonb_typeof(e.step -> 'input_schema'), 'null') in ('object', 'null')
    and coalesce(pg_catalog.jsonb_typeof(e.step -> 'output_schema'), 'null') in ('object', 'null'),
    false  -- a null anywhere above (a missing key) means the step is not valid
  )), true)
  into v_valid
  from pg_catalog.jsonb_array_elements(_normalize_steps.steps) as e (step);

  if not v_valid then
    -- raises the error of the first bad step
    select pg_catalog.jsonb_agg(
      pgflow._normalize_step(_normalize_steps.flow_slug, e.step, _normalize_steps.first_position + e.pos::int - 1)
      order by e.pos
    )
    into v_normalized
    from pg_catalog.jsonb_array_elements(_normalize_steps.steps) with ordinality as e (step, pos);
    return v_normalized;
  end if;

  select coalesce(pg_catalog.jsonb_agg(
    pg_catalog.jsonb_build_object(
      'slug', e.step ->> 'slug',
      'type', coalesce(e.step ->> 'type', 'single'),
      'depends_on', case
        when e.step ? 'depends_on' then (
          select coalesce(pg_catalog.jsonb_agg(distinct d.dep order by d.dep), '[]'::jsonb)
          from pg_catalog.jsonb_array_elements_text(
            coalesce(nullif(e.step -> 'depends_on', 'null'::jsonb), '[]'::jsonb)
          ) as d (dep)
        )
      end,
      'max_attempts', (nullif(e.step -> 'max_attempts', 'null'::jsonb) #>> '{}')::numeric,
      'base_delay', (nullif(e.step -> 'base_delay', 'null'::jsonb) #>> '{}')::numeric,
      'max_delay', (nullif(e.step -> 'max_delay', 'null'::jsonb) #>> '{}')::numeric,
      'timeout', (nullif(e.step -> 'timeout', 'null'::jsonb) #>> '{}')::numeric,
      'start_delay', (nullif(e.step -> 'start_delay', 'null'::jsonb) #>> '{}')::numeric,
      'if', nullif(e.step -> 'if', 'null'::jsonb),
      'if_not', nullif(e.step -> 'if_not', 'null'::jsonb),
      'when_unmet', coalesce(e.step ->> 'when_unmet', 'skip'),
      'when_exhausted', coalesce(e.step ->> 'when_exhausted', 'fail')
    ) || case
      when e.step ?| array['concurrency', 'concurrency_key', 'rate_limit'] then pgflow._flow_control_options(e.step)
      else '{}'::jsonb
    end || case
      -- the child flow of a sub-flow step (sql/024_subflows.sql)
      when coalesce(e.step -> 'flow', 'null'::jsonb) <> 'null'::jsonb
        then pg_catalog.jsonb_build_object('flow', e.step -> 'flow')
      else '{}'::jsonb
    end || case
      when e.step ?| array['input_schema', 'output_schema'] then pgflow._schema_options(e.step)
      else '{}'::jsonb
    end
    order by e.pos
  ), '[]'::jsonb)
  into v_normalized
  from pg_catalog.jsonb_array_elements(_normalize_steps.steps) with ordinality as e (step, pos);
  return v_normalized;
end;
$$;

-- Called by _normalize_definition and add_step: PF002 listing every dependency that names no step,
-- then PF001 for a map step with more than one dependency. steps: normalized steps, deps resolved.
create or replace function pgflow._check_dependencies(flow_slug text, steps jsonb)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_slugs jsonb;
  v_message text;
  v_unknown_count int;
  v_detail jsonb;
  v_map text;
begin
  select pg_catalog.jsonb_object_agg(s.step ->> 'slug', true) into v_slugs
  from pg_catalog.jsonb_array_elements(_check_dependencies.steps) as s (step);

  -- (the pairs are made first, as plain texts: a step's JSON carried along each of its dependencies would make
  -- the sort below quadratic in the number of dependencies)
  with pairs as materialized (
    select s.slug as step_slug, d.dep
    from (
      select e.step ->> 'slug' as slug, e.step -> 'depends_on' as deps
      from pg_catalog.jsonb_array_elements(_check_dependencies.steps) as e (step)
    ) as s
    cross join lateral pg_catalog.jsonb_array_elements_text(s.deps) as d (dep)
  ),
  unknown as (
    select pairs.step_slug, pairs.dep from pairs where not coalesce(v_slugs ? pairs.dep, false)
  ),
  grouped as (
    select
      unknown.dep,
      pg_catalog.array_agg(unknown.step_slug order by unknown.step_slug) as needed_by
    from unknown
    group by unknown.dep
  )
  select
    (
      select pg_catalog.string_agg(
        pg_catalog.format(
          '%s (needed by %s%s)', pgflow._shown(g.dep), pg_catalog.array_to_string(g.needed_by[1:3], ', '),
          case
            when pg_catalog.cardinality(g.needed_by) > 3
              then pg_catalog.format(' and %s more', pg_catalog.cardinality(g.needed_by) - 3)
            else ''
          end
        ),
        ', ' order by g.dep
      )
      from (select grouped.* from grouped order by grouped.dep limit 10) as g
    ),
    pg_catalog.count(*)::int,
    pg_catalog.jsonb_object_agg(grouped.dep, pg_catalog.to_jsonb(grouped.needed_by))
  into v_message, v_unknown_count, v_detail
  from grouped;

  -- the message names the first 10 (by slug), each with the first 3 steps that need it; the DETAIL has all
  if v_unknown_count > 0 then
    raise exception using
      errcode = 'PF002',
      message = pg_catalog.format(
        'flow %L: unknown dependencies: %s%s', _check_dependencies.flow_slug, v_message,
        case when v_unknown_count > 10 then pg_catalog.format(' and %s more', v_unknown_count - 10) else '' end
      ),
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
        pgflow._shown((
          select s.step -> 'depends_on'
          from pg_catalog.jsonb_array_elements(_check_dependencies.steps) as s (step)
          where s.step ->> 'slug' = v_map
        )::text)
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
set search_path = pg_catalog, pg_temp
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
        _normalize_definition.flow_slug, pgflow._shown(_normalize_definition.steps::text)
      );
  end if;

  v_steps := pgflow._normalize_steps(_normalize_definition.flow_slug, _normalize_definition.steps);

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

-- Called by define_flow for a definition that becomes a new version: PF001 for a condition that could never
-- do what it says. A step's pattern is matched with @> against the input it would receive:
--   - a dependent single step receives {dependency: output}: its pattern must be an object whose keys are
--     among its dependencies (a pattern {"A": ...} for a dependency "a", or a scalar, would never match, and
--     the step would be skipped silently);
--   - a map step's pattern is matched against the whole array it maps over: an array (elements the array must
--     contain) or a scalar (an element it must hold); an object never matches an array;
--   - a root single step receives the run input, which may be any JSON: any pattern.
-- steps: normalized steps, depends_on resolved.
create or replace function pgflow._check_conditions(flow_slug text, steps jsonb)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_bad record;
begin
  select
    c.slug, c.condition, c.pattern, c.deps, c.step_type,
    (
      select pg_catalog.string_agg(k.key, ', ' order by k.key)
      from pg_catalog.jsonb_object_keys(c.keyed) as k (key)
      where not c.deps ? k.key
    ) as unknown_keys,
    (
      select pg_catalog.string_agg(d.dep, ', ' order by d.dep)
      from pg_catalog.jsonb_array_elements_text(c.deps) as d (dep)
    ) as dep_list
  into v_bad
  from (
    select
      e.step ->> 'slug' as slug, e.step ->> 'type' as step_type, e.step -> 'depends_on' as deps, e.pos,
      cond.condition, e.step -> cond.condition as pattern,
      -- the pattern when it is an object, else {} (jsonb_object_keys takes objects only)
      case
        when pg_catalog.jsonb_typeof(e.step -> cond.condition) = 'object' then e.step -> cond.condition
        else '{}'::jsonb
      end as keyed
    from pg_catalog.jsonb_array_elements(_check_conditions.steps) with ordinality as e (step, pos)
    cross join (values ('if', 1), ('if_not', 2)) as cond (condition, pos)
    where coalesce(e.step -> cond.condition, 'null'::jsonb) <> 'null'::jsonb
      and (e.step ->> 'type' = 'map' or pg_catalog.jsonb_array_length(e.step -> 'depends_on') > 0)
    order by e.pos, cond.pos
  ) as c
  where case
    when c.step_type = 'map' then pg_catalog.jsonb_typeof(c.pattern) = 'object'
    else pg_catalog.jsonb_typeof(c.pattern) <> 'object'
      or exists (select from pg_catalog.jsonb_object_keys(c.keyed) as k (key) where not c.deps ? k.key)
  end
  order by c.pos, c.condition
  limit 1;

  if not found then
    return;
  end if;
  raise exception using
    errcode = 'PF001',
    message = case
      when v_bad.step_type = 'map' then pg_catalog.format(
        'flow %L, step %L: condition %s is matched against the array the map step maps over, so it must be a '
        'JSON array (elements the array must contain) or a scalar (an element it must hold), got %s',
        _check_conditions.flow_slug, v_bad.slug, v_bad.condition, pgflow._shown(v_bad.pattern::text)
      )
      when v_bad.unknown_keys is null then pg_catalog.format(
        'flow %L, step %L: condition %s must be a JSON object keyed by the step''s dependencies (%s), as its input '
        'is {dependency: output}; got %s',
        _check_conditions.flow_slug, v_bad.slug, v_bad.condition, pgflow._shown(v_bad.dep_list),
        pgflow._shown(v_bad.pattern::text)
      )
      else pg_catalog.format(
        'flow %L, step %L: condition %s has the key(s) %s, which name no dependency of the step, so it could '
        'never match (its input is {dependency: output} over the dependencies %s)',
        _check_conditions.flow_slug, v_bad.slug, v_bad.condition, pgflow._shown(v_bad.unknown_keys),
        pgflow._shown(v_bad.dep_list)
      )
    end;
end;
$$;

-- Called by define_flow: a topological order of the steps (ties broken by definition order),
-- or PF003 with the path of a cycle.
--
-- The order comes from Kahn's algorithm over integer arrays (linear in steps + edges; slugs are mapped
-- to positions through a JSON object, looked up by binary search, so no join can degrade into a
-- quadratic loop on a large definition). When steps are left over, every one of them has a dependency
-- that is also left over, so walking from any of them along left-over dependencies must come back to
-- a step already seen: a recursive CTE does that walk and the repeated part is the cycle.
create or replace function pgflow._topological_order(flow_slug text, steps jsonb)
returns text[]
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count int := pg_catalog.jsonb_array_length(_topological_order.steps);
  v_position jsonb;
  v_slugs text[];
  v_indegree int[];
  v_edge_from int[];
  v_edge_to int[];
  v_offsets int[];
  v_queue int[];
  v_head int := 1;
  v_tail int := 0;
  v_node int;
  v_edges int;
  v_left jsonb;
  v_path text[];
  v_start int;
begin
  -- step i (1-based, definition order): its slug, its number of dependencies; slug -> i
  select
    pg_catalog.array_agg(s.step ->> 'slug' order by s.pos),
    pg_catalog.array_agg(pg_catalog.jsonb_array_length(s.step -> 'depends_on') order by s.pos),
    pg_catalog.jsonb_object_agg(s.step ->> 'slug', s.pos)
  into v_slugs, v_indegree, v_position
  from pg_catalog.jsonb_array_elements(_topological_order.steps) with ordinality as s (step, pos);

  -- the edges (dependency -> dependent), grouped by dependency
  select
    coalesce(pg_catalog.array_agg(e.dep_pos order by e.dep_pos, e.node_pos), '{}'),
    coalesce(pg_catalog.array_agg(e.node_pos order by e.dep_pos, e.node_pos), '{}')
  into v_edge_from, v_edge_to
  from (
    select (v_position ->> d.dep)::int as dep_pos, s.pos::int as node_pos
    from pg_catalog.jsonb_array_elements(_topological_order.steps) with ordinality as s (step, pos)
    cross join lateral pg_catalog.jsonb_array_elements_text(s.step -> 'depends_on') as d (dep)
  ) as e;
  v_edges := pg_catalog.cardinality(v_edge_from);

  -- v_offsets[i] .. v_offsets[i + 1] - 1: the positions in v_edge_to of step i's dependents
  v_offsets := pg_catalog.array_fill(0, array[v_count + 1]);
  for v_edge in 1 .. v_edges loop
    v_offsets[v_edge_from[v_edge] + 1] := v_offsets[v_edge_from[v_edge] + 1] + 1;
  end loop;
  v_offsets[1] := 1;
  for v_position_index in 2 .. v_count + 1 loop
    v_offsets[v_position_index] := v_offsets[v_position_index] + v_offsets[v_position_index - 1];
  end loop;

  v_queue := pg_catalog.array_fill(0, array[v_count]);
  for v_root in 1 .. v_count loop
    if v_indegree[v_root] = 0 then
      v_tail := v_tail + 1;
      v_queue[v_tail] := v_root;
    end if;
  end loop;

  while v_head <= v_tail loop
    v_node := v_queue[v_head];
    v_head := v_head + 1;
    for v_edge in v_offsets[v_node] .. v_offsets[v_node + 1] - 1 loop
      v_indegree[v_edge_to[v_edge]] := v_indegree[v_edge_to[v_edge]] - 1;
      if v_indegree[v_edge_to[v_edge]] = 0 then
        v_tail := v_tail + 1;
        v_queue[v_tail] := v_edge_to[v_edge];
      end if;
    end loop;
  end loop;

  if v_tail = v_count then
    -- (a join, not v_slugs[q.node]: subscripting an array of text walks it from the start)
    return array(
      select sl.slug
      from pg_catalog.unnest(v_queue) with ordinality as q (node, pos)
      inner join pg_catalog.unnest(v_slugs) with ordinality as sl (slug, node) on q.node = sl.node
      order by q.pos
    );
  end if;

  -- A cycle: for every left-over step, the first left-over step it depends on.
  select pg_catalog.jsonb_object_agg(l.slug, l.next_slug), pg_catalog.min(l.pos)
  into v_left, v_start
  from (
    select s.step ->> 'slug' as slug, s.pos::int as pos, pg_catalog.min(d.dep) as next_slug
    from pg_catalog.jsonb_array_elements(_topological_order.steps) with ordinality as s (step, pos)
    cross join lateral pg_catalog.jsonb_array_elements_text(s.step -> 'depends_on') as d (dep)
    where v_indegree[s.pos::int] > 0 and v_indegree[(v_position ->> d.dep)::int] > 0
    group by s.step ->> 'slug', s.pos
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

  -- A long cycle is shown by its first 10 steps (the message stays short enough to read and to log); the
  -- DETAIL has all of it.
  raise exception using
    errcode = 'PF003',
    message = case
      when pg_catalog.cardinality(v_path) <= 21 then pg_catalog.format(
        'flow %L has a dependency cycle: %s (each step depends on the one before it)',
        _topological_order.flow_slug, pg_catalog.array_to_string(v_path, ' -> ')
      )
      else pg_catalog.format(
        'flow %L has a dependency cycle of %s steps: %s -> ... -> %s (each step depends on the one before it; '
        'the DETAIL lists the whole cycle)',
        _topological_order.flow_slug, pg_catalog.cardinality(v_path) - 1,
        pg_catalog.array_to_string(v_path[1:10], ' -> '), v_path[pg_catalog.cardinality(v_path)]
      )
    end,
    detail = pg_catalog.jsonb_build_object('cycle', pg_catalog.to_jsonb(v_path))::text;
end;
$$;
