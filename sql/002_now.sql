-- Time, limits and the checks of arguments shared by every public function.
--
-- Every timestamp and due-time comparison in the engine reads pgflow.now(), so tests and simulations
-- control time with the session setting pgflow.fake_now instead of sleeping. Fake time is a test
-- harness's tool: it is honoured only in sessions whose session user is a superuser or owns the pgflow
-- schema, so that no other session can move the clock that decides what happens to everyone's work.

-- Called by pgflow.now() only when pgflow.fake_now is set: the fake time when this session may use it,
-- else the transaction time. PF005 when the setting is not a timestamp.
create or replace function pgflow._fake_now()
returns timestamptz
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_allowed boolean;
begin
  select r.rolsuper or r.oid = n.nspowner into v_allowed
  from pg_catalog.pg_roles as r
  cross join pg_catalog.pg_namespace as n
  where r.rolname = session_user and n.nspname = 'pgflow';
  if not coalesce(v_allowed, false) then
    return pg_catalog.transaction_timestamp();
  end if;
  return pg_catalog.current_setting('pgflow.fake_now')::timestamptz;
exception
  when invalid_datetime_format or datetime_field_overflow or invalid_parameter_value then
    raise exception using
      errcode = 'PF005',
      message = pg_catalog.format(
        'the setting pgflow.fake_now must be a timestamp with time zone, got %L',
        pg_catalog.current_setting('pgflow.fake_now', true)
      );
end;
$$;

-- Called by every engine function that reads the clock. Like the other one-line helpers of this file it
-- has no "set search_path" (every name in it is qualified): PostgreSQL then inlines it into the
-- caller's query, where a function with a SET clause would be planned anew at every call. The check of
-- who may fake time runs only when the setting is there.
create or replace function pgflow.now()
returns timestamptz
language sql
stable
parallel safe
as $$
  select case
    when coalesce(pg_catalog.current_setting('pgflow.fake_now', true), '') = '' then pg_catalog.transaction_timestamp()
    else pgflow._fake_now()
  end
$$;

comment on function pgflow.now() is
'The engine''s clock: the transaction time, or the session setting pgflow.fake_now in sessions whose session user '
'is a superuser or owns the pgflow schema (a test harness''s clock; ignored in other sessions).';

-- Called by heartbeat (which registers it as the calling worker's own timeout) and by workers, to pace
-- their heartbeats: the session setting pgflow.worker_timeout, 30 seconds when unset, as a number of seconds
-- (an interval of mixed units, such as '1 year -360 days', is judged by what it adds to a time, not by how
-- PostgreSQL compares intervals, which counts a year as 360 days). Bounded to 1 second .. 1 hour: shorter,
-- and a worker could not beat fast enough; longer, and the tasks of a dead worker would be held for hours.
-- PF005 for anything else.
create or replace function pgflow.worker_timeout()
returns interval
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_setting text := coalesce(nullif(pg_catalog.current_setting('pgflow.worker_timeout', true), ''), '30 seconds');
  v_seconds numeric;
begin
  begin
    v_seconds := extract(epoch from pg_catalog.transaction_timestamp() + v_setting::interval)
      - extract(epoch from pg_catalog.transaction_timestamp());
  exception
    when invalid_datetime_format or datetime_field_overflow or interval_field_overflow
      or invalid_parameter_value or numeric_value_out_of_range or syntax_error then
      v_seconds := null;
  end;
  if v_seconds is null or v_seconds < 1 or v_seconds > 3600 then
    raise exception using
      errcode = 'PF005',
      message = pg_catalog.format(
        'the setting pgflow.worker_timeout must be an interval from 1 second to 1 hour, got %L', v_setting
      );
  end if;
  return pg_catalog.make_interval(secs => v_seconds::double precision);
end;
$$;

comment on function pgflow.worker_timeout() is
'This session''s worker timeout: the setting pgflow.worker_timeout (1 second to 1 hour), 30 seconds when unset. '
'heartbeat() registers it as the worker''s own timeout; a worker that neither polls nor beats for that long '
'loses its started tasks. PF005 when the setting is not such an interval.';

-- Called wherever a number of seconds becomes an interval (once per task created).
create or replace function pgflow._seconds(seconds numeric)
returns interval
language sql
immutable
parallel safe
as $$
  select pg_catalog.make_interval(secs => _seconds.seconds::double precision)
$$;

-- Called by fail_task: the delay before retrying after the n-th failed attempt (n >= 1),
-- min(max_delay, base_delay * 2^(n-1)).
create or replace function pgflow._retry_delay(base_delay numeric, max_delay numeric, failed_attempts int)
returns numeric
language sql
immutable
parallel safe
as $$
  select least(
    _retry_delay.max_delay,
    _retry_delay.base_delay * pg_catalog.power(2::numeric, least(greatest(_retry_delay.failed_attempts, 1) - 1, 64))
  )
$$;

-- Called by the task reports, start_run and the cascade, and by workers (to fail a result too large to
-- send before sending it): the largest JSON value, in bytes of its stored (jsonb) form, that a task may
-- report as its output, that a map step's outputs may add up to, that the engine builds as a step's input
-- (the object of its dependencies' outputs) and that a run may take as input. 64 MiB: a quarter of
-- jsonb's own limit of 256 MiB per value, so that no value the engine builds from stored ones can reach it.
create or replace function pgflow.max_output_size()
returns bigint
language sql
immutable
parallel safe
as $$
  select 67108864::bigint
$$;

comment on function pgflow.max_output_size() is
'The largest output a task may report, in bytes of its stored jsonb form (64 MiB); also the limit on a map '
'step''s outputs together, on the input built for a step from its dependencies'' outputs, and on a run input.';

-- Called wherever an error message quotes a value it was given: the value quoted, shortened to its first 100
-- characters (and how long it was) so that no message grows with its input; 'null' for null.
create or replace function pgflow._shown(value text)
returns text
language sql
immutable
parallel safe
as $$
  select case
    when _shown.value is null then 'null'
    when pg_catalog.length(_shown.value) <= 100 then pg_catalog.quote_literal(_shown.value)
    else pg_catalog.quote_literal(pg_catalog.left(_shown.value, 100))
      || pg_catalog.format('... (%s characters)', pg_catalog.length(_shown.value))
  end
$$;

-- Called by the public functions to refuse a bad argument: PF005 with a sentence naming the function, the
-- argument and what it must be, and what it got (shortened by _shown).
create or replace function pgflow._bad_argument(function_name text, argument text, rule text, got text)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  raise exception using
    errcode = 'PF005',
    message = pg_catalog.format(
      '%s: %s must be %s, got %s',
      _bad_argument.function_name, _bad_argument.argument, _bad_argument.rule, pgflow._shown(_bad_argument.got)
    );
end;
$$;

-- Called by the public functions for the arguments that name something: PF005 unless the value is a text
-- of 1 to max_length characters (worker ids and idempotency keys are indexed: 255 keeps every key far
-- under the 2,704 bytes a B-tree entry may take).
create or replace function pgflow._check_name(function_name text, argument text, value text, max_length int default 255)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  if _check_name.value is null or _check_name.value = '' or pg_catalog.length(_check_name.value) > _check_name.max_length
  then
    perform pgflow._bad_argument(
      _check_name.function_name, _check_name.argument,
      pg_catalog.format('a text of 1 to %s characters', _check_name.max_length), _check_name.value
    );
  end if;
end;
$$;

-- Called by the public functions for their array arguments: PF005 unless the value is null or a list (an array
-- of one dimension, indexed from 1, as every client sends them).
create or replace function pgflow._check_list(function_name text, argument text, value anyarray)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  if _check_list.value is not null
     and (pg_catalog.array_ndims(_check_list.value) > 1 or pg_catalog.array_lower(_check_list.value, 1) <> 1) then
    perform pgflow._bad_argument(
      _check_list.function_name, _check_list.argument, 'a one-dimensional array indexed from 1',
      pg_catalog.array_dims(_check_list.value) || ' ' || _check_list.value::text
    );
  end if;
end;
$$;

-- Called by poll_for_tasks and heartbeat for flow_slugs: PF005 unless the value is null or a list of at most
-- 1,000 flow slugs (each 1 to 128 letters, digits and underscores, not starting with a digit).
create or replace function pgflow._check_slugs(function_name text, argument text, value text[], null_means text)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  perform pgflow._check_list(_check_slugs.function_name, _check_slugs.argument, _check_slugs.value);
  if pg_catalog.cardinality(_check_slugs.value) > 1000
     or exists (
       select from pg_catalog.unnest(_check_slugs.value) as s (slug)
       where s.slug is null or s.slug !~ '^[a-zA-Z_][a-zA-Z0-9_]*$' or pg_catalog.length(s.slug) > 128
     ) then
    perform pgflow._bad_argument(
      _check_slugs.function_name, _check_slugs.argument,
      pg_catalog.format('null (%s) or an array of at most 1,000 flow slugs', _check_slugs.null_means),
      _check_slugs.value::text
    );
  end if;
end;
$$;

-- Called by the public functions for their required arguments: PF005 when the value is null.
create or replace function pgflow._check_not_null(function_name text, argument text, is_null boolean)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  if _check_not_null.is_null then
    raise exception using
      errcode = 'PF005',
      message = pg_catalog.format('%s: %s must not be null', _check_not_null.function_name, _check_not_null.argument);
  end if;
end;
$$;

-- Called by the reports and cancel_run: an error or reason text as stored, at most 65,536 characters (the
-- rest is cut, and the cut says how long the text was), so that one runaway message cannot bloat a row.
create or replace function pgflow._clip(message text)
returns text
language sql
immutable
parallel safe
as $$
  select case
    when pg_catalog.length(_clip.message) <= 65536 then _clip.message
    else pg_catalog.left(_clip.message, 65536)
      || pg_catalog.format('... (cut: %s characters in all)', pg_catalog.length(_clip.message))
  end
$$;

-- Called wherever an output or input is measured against pgflow.max_output_size(): the size in bytes of a
-- JSON value in its jsonb form, before compression. Values that come as arguments are not compressed, and
-- their size is read from their header; one that came compressed from a table is decompressed first (as an
-- array element: the size of the compressed form would understate it).
create or replace function pgflow._json_size(value jsonb)
returns bigint
language sql
immutable
parallel safe
as $$
  select case
    when pg_catalog.pg_column_compression(_json_size.value) is null then pg_catalog.pg_column_size(_json_size.value)
    else pg_catalog.pg_column_size((array[_json_size.value])[1])
  end::bigint
$$;
