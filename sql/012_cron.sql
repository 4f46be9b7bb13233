-- Cron expressions: their parsing and the search of their ticks, in SQL so that any client can use them.
--
-- A cron has five fields, minute hour day-of-month month day-of-week, each a list (a,b) of items: *, a number,
-- a range a-b, a step */n, a-b/n or a/n (a/n is a to the field's maximum, every n, as Vixie cron and croniter
-- read it). Months may be written jan..dec and days of the week sun..sat (any case, also inside ranges); day of
-- week 7 is Sunday, as 0 is. Macros: @yearly (@annually), @monthly, @weekly, @daily (@midnight), @hourly.
-- Vixie cron's day rule: when both day-of-month and day-of-week are restricted (neither field starts with *), a
-- day matches when either matches; otherwise both must. Anything else is PF001, naming the field at fault.
--
-- Ticks are wall-clock minutes in a time zone. A wall-clock time that does not exist (the hour skipped when
-- daylight saving time starts) is no tick; one that happens twice (the hour repeated when it ends) is one tick,
-- at its first occurrence. Searches go day by day over local dates (skipping whole months that do not match)
-- up to 8 years away, so that a cron of February 29 is found; a cron with no tick in that horizon has none.
--
-- Called by the schedules (sql/025_schedules.sql) and by clients (next_cron_tick).

-- Called by the cron parsers to refuse a cron: PF001 with a sentence naming the function, what is wrong and
-- the cron (its first 100 characters).
create or replace function pgflow._cron_error(function_name text, cron text, problem text)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  raise exception using
    errcode = 'PF001',
    message = pg_catalog.format(
      '%s: cron %s, got %s',
      _cron_error.function_name,
      _cron_error.problem,
      case
        when _cron_error.cron is null then 'null'
        when pg_catalog.length(_cron_error.cron) <= 100 then '"' || _cron_error.cron || '"'
        else '"' || pg_catalog.left(_cron_error.cron, 100) || pg_catalog.format(
          '..." (%s characters)', pg_catalog.length(_cron_error.cron)
        )
      end
    );
end;
$$;

-- Called by _cron_field for one value of a field: the number it is (a number from low to high, or one of
-- names, the first of which stands for low). PF001 otherwise.
create or replace function pgflow._cron_value(
  function_name text, cron text, field text, value text, low int, high int, names text[]
)
returns int
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_number int;
begin
  if _cron_value.value ~ '^[0-9]{1,9}$' then
    v_number := _cron_value.value::int;
    if v_number not between _cron_value.low and _cron_value.high then
      perform pgflow._cron_error(
        _cron_value.function_name, _cron_value.cron,
        pg_catalog.format(
          'field %s: %s is out of range %s-%s', _cron_value.field, v_number, _cron_value.low, _cron_value.high
        )
      );
    end if;
    return v_number;
  end if;
  v_number := pg_catalog.array_position(_cron_value.names, pg_catalog.lower(_cron_value.value));
  if v_number is null then
    perform pgflow._cron_error(
      _cron_value.function_name, _cron_value.cron,
      pg_catalog.format(
        'field %s: "%s" is not %s', _cron_value.field, _cron_value.value,
        case
          when _cron_value.names is null then
            pg_catalog.format('a number from %s to %s', _cron_value.low, _cron_value.high)
          else pg_catalog.format(
            'a number from %s to %s or a name %s..%s', _cron_value.low, _cron_value.high,
            _cron_value.names[1], _cron_value.names[pg_catalog.cardinality(_cron_value.names)]
          )
        end
      )
    );
  end if;
  return _cron_value.low + v_number - 1;
end;
$$;

-- Called by _cron_parse for one field: the sorted values it matches, values from low to high. * and a/n run to
-- last (the field's maximum; day of week: 6, its 7 being only another name of Sunday, as croniter reads it). PF001
-- for an empty field or list item, a bad value, a range that goes backwards, a step not from 1 to the field's
-- count of values.
create or replace function pgflow._cron_field(
  function_name text, cron text, field text, value text, low int, high int, last int, names text[] default null
)
returns int[]
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_item text;
  v_parts text[];
  v_bounds text[];
  v_step int;
  v_from int;
  v_to int;
  v_values int[] := '{}'::int[];
begin
  foreach v_item in array pg_catalog.string_to_array(_cron_field.value, ',') loop
    if v_item = '' then
      perform pgflow._cron_error(
        _cron_field.function_name, _cron_field.cron,
        pg_catalog.format('field %s: "%s" has an empty list item', _cron_field.field, _cron_field.value)
      );
    end if;
    v_parts := pg_catalog.string_to_array(v_item, '/');
    v_step := 1;
    if pg_catalog.cardinality(v_parts) > 2 then
      perform pgflow._cron_error(
        _cron_field.function_name, _cron_field.cron,
        pg_catalog.format('field %s: "%s" has more than one step', _cron_field.field, v_item)
      );
    elsif pg_catalog.cardinality(v_parts) = 2 then
      if v_parts[2] !~ '^[0-9]{1,9}$'
         or v_parts[2]::int not between 1 and _cron_field.last - _cron_field.low + 1 then
        perform pgflow._cron_error(
          _cron_field.function_name, _cron_field.cron,
          pg_catalog.format(
            'field %s: the step of "%s" must be a number from 1 to %s', _cron_field.field, v_item,
            _cron_field.last - _cron_field.low + 1
          )
        );
      end if;
      v_step := v_parts[2]::int;
    end if;

    if v_parts[1] = '*' then
      v_from := _cron_field.low;
      v_to := _cron_field.last;
    elsif pg_catalog.strpos(v_parts[1], '-') > 0 then
      v_bounds := pg_catalog.string_to_array(v_parts[1], '-');
      if pg_catalog.cardinality(v_bounds) <> 2 then
        perform pgflow._cron_error(
          _cron_field.function_name, _cron_field.cron,
          pg_catalog.format('field %s: "%s" is not a range a-b', _cron_field.field, v_parts[1])
        );
      end if;
      v_from := pgflow._cron_value(
        _cron_field.function_name, _cron_field.cron, _cron_field.field, v_bounds[1],
        _cron_field.low, _cron_field.high, _cron_field.names
      );
      v_to := pgflow._cron_value(
        _cron_field.function_name, _cron_field.cron, _cron_field.field, v_bounds[2],
        _cron_field.low, _cron_field.high, _cron_field.names
      );
      if v_from > v_to then
        perform pgflow._cron_error(
          _cron_field.function_name, _cron_field.cron,
          pg_catalog.format(
            'field %s: the range "%s" goes backwards (%s is after %s)', _cron_field.field, v_parts[1], v_from, v_to
          )
        );
      end if;
    else
      v_from := pgflow._cron_value(
        _cron_field.function_name, _cron_field.cron, _cron_field.field, v_parts[1],
        _cron_field.low, _cron_field.high, _cron_field.names
      );
      -- a/n: from a to the field's maximum, every n
      v_to := case
        when pg_catalog.cardinality(v_parts) = 2 then greatest(_cron_field.last, v_from) else v_from
      end;
    end if;
    v_values := v_values || array(select pg_catalog.generate_series(v_from, v_to, v_step));
  end loop;
  return array(select distinct v.value from pg_catalog.unnest(v_values) as v (value) order by v.value);
end;
$$;

-- Called by next_cron_tick and the schedules (once per cron, never in a loop): the cron as the tick searches
-- read it, {"minutes": [...], "hours": [...], "days": [...], "months": [...], "weekdays": [0 (Sunday) .. 6],
-- "days_restricted": bool, "weekdays_restricted": bool} (restricted: the field does not start with *). PF001,
-- naming function_name, the field and the cron, for anything that is not a cron (see the top of this file).
create or replace function pgflow._cron_parse(cron text, function_name text default 'next_cron_tick')
returns jsonb
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_text text := pg_catalog.btrim(_cron_parse.cron, E' \t\r\n');
  v_fields text[];
begin
  if pg_catalog.length(_cron_parse.cron) > 255 then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        '%s: cron must be at most 255 characters, got %s', _cron_parse.function_name, pgflow._shown(_cron_parse.cron)
      );
  end if;
  if v_text is null or v_text = '' then
    perform pgflow._cron_error(
      _cron_parse.function_name, _cron_parse.cron,
      'must be five fields (minute hour day-of-month month day-of-week) or a macro such as @daily'
    );
  end if;
  if pg_catalog.left(v_text, 1) = '@' then
    v_text := case pg_catalog.lower(v_text)
      when '@yearly' then '0 0 1 1 *'
      when '@annually' then '0 0 1 1 *'
      when '@monthly' then '0 0 1 * *'
      when '@weekly' then '0 0 * * 0'
      when '@daily' then '0 0 * * *'
      when '@midnight' then '0 0 * * *'
      when '@hourly' then '0 * * * *'
    end;
    if v_text is null then
      perform pgflow._cron_error(
        _cron_parse.function_name, _cron_parse.cron,
        'macro is unknown: use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly'
      );
    end if;
  end if;
  v_fields := pg_catalog.regexp_split_to_array(v_text, '\s+');
  if pg_catalog.cardinality(v_fields) <> 5 then
    perform pgflow._cron_error(
      _cron_parse.function_name, _cron_parse.cron,
      pg_catalog.format(
        'has %s field%s, five are needed (minute hour day-of-month month day-of-week)',
        pg_catalog.cardinality(v_fields), case when pg_catalog.cardinality(v_fields) = 1 then '' else 's' end
      )
    );
  end if;
  return pg_catalog.jsonb_build_object(
    'minutes', pgflow._cron_field(_cron_parse.function_name, _cron_parse.cron, 'minute', v_fields[1], 0, 59, 59),
    'hours', pgflow._cron_field(_cron_parse.function_name, _cron_parse.cron, 'hour', v_fields[2], 0, 23, 23),
    'days', pgflow._cron_field(_cron_parse.function_name, _cron_parse.cron, 'day-of-month', v_fields[3], 1, 31, 31),
    'months', pgflow._cron_field(
      _cron_parse.function_name, _cron_parse.cron, 'month', v_fields[4], 1, 12, 12,
      array['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec']
    ),
    -- 7 is Sunday too
    'weekdays', array(
      select distinct d.value % 7
      from pg_catalog.unnest(pgflow._cron_field(
        _cron_parse.function_name, _cron_parse.cron, 'day-of-week', v_fields[5], 0, 7, 6,
        array['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']
      )) as d (value)
      order by 1
    ),
    'days_restricted', pg_catalog.left(v_fields[3], 1) <> '*',
    'weekdays_restricted', pg_catalog.left(v_fields[5], 1) <> '*'
  );
end;
$$;

-- Called by next_cron_tick and create_schedule: PF001 unless PostgreSQL knows the time zone (a name of
-- pg_timezone_names, an abbreviation of pg_timezone_abbrevs, or a POSIX time zone specification, as AT TIME ZONE
-- takes them). Checked by converting a time, not by reading pg_timezone_names (which reads every zone file).
create or replace function pgflow._check_timezone(function_name text, timezone text)
returns void
language plpgsql
stable
set search_path = pg_catalog, pg_temp
-- (an abbreviation such as EST means what timezone_abbreviations says: pinned, so that no session's setting moves a
-- schedule's ticks)
set timezone_abbreviations = 'Default'
as $$
begin
  if _check_timezone.timezone is null then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        '%s: timezone must be a time zone name (see pg_timezone_names), got null', _check_timezone.function_name
      );
  end if;
  perform pg_catalog.timezone(_check_timezone.timezone, timestamptz '2000-01-01 00:00:00+00');
exception
  when invalid_parameter_value then
    raise exception using
      errcode = 'PF001',
      message = pg_catalog.format(
        '%s: timezone %s is not a time zone name PostgreSQL knows (see pg_timezone_names)',
        _check_timezone.function_name, pgflow._shown(_check_timezone.timezone)
      );
end;
$$;

-- Called by the tick searches for one wall-clock time in a time zone: the instant it shows there, the first one
-- when it happens twice (the hour repeated when daylight saving time ends), null when it does not exist (the hour
-- skipped when it starts). PostgreSQL reads a repeated time as its second occurrence and a skipped one with the
-- offset before the change: the first is found with the offset of a day before, the second by a round trip.
create or replace function pgflow._cron_instant(local timestamp, timezone text)
returns timestamptz
language plpgsql
stable
set search_path = pg_catalog, pg_temp
-- (an abbreviation such as EST means what timezone_abbreviations says: pinned, so that no session's setting moves a
-- schedule's ticks)
set timezone_abbreviations = 'Default'
as $$
declare
  v_at timestamptz := pg_catalog.timezone(_cron_instant.timezone, _cron_instant.local);
  v_before timestamptz := v_at - interval '1 day';
  v_earlier timestamptz;
begin
  if pg_catalog.timezone(_cron_instant.timezone, v_at) <> _cron_instant.local then
    return null;
  end if;
  v_earlier := pg_catalog.timezone(
    'UTC',
    _cron_instant.local
    - (pg_catalog.timezone(_cron_instant.timezone, v_before) - pg_catalog.timezone('UTC', v_before))
  );
  if v_earlier < v_at and pg_catalog.timezone(_cron_instant.timezone, v_earlier) = _cron_instant.local then
    return v_earlier;
  end if;
  return v_at;
end;
$$;

-- Called by the tick searches: one list of a parsed cron (_cron_parse) as an array.
create or replace function pgflow._cron_ints(spec jsonb, field text)
returns int[]
language sql
immutable
parallel safe
as $$
  select array(
    select v.value::int from pg_catalog.jsonb_array_elements_text(_cron_ints.spec -> _cron_ints.field) as v (value)
  )
$$;

-- Called by next_cron_tick, create_schedule and _start_due_schedules with a parsed cron (_cron_parse): its first
-- tick strictly after "after", in the time zone (already checked), or null when it has none within 8 years.
-- Days are walked from the local date of "after"; on that day only the wall-clock times after its local time can
-- be ticks after it (the instants of a day's times rise with them), later days start from their first time.
create or replace function pgflow._cron_next(spec jsonb, after timestamptz, timezone text)
returns timestamptz
language plpgsql
stable
set search_path = pg_catalog, pg_temp
-- (an abbreviation such as EST means what timezone_abbreviations says: pinned, so that no session's setting moves a
-- schedule's ticks)
set timezone_abbreviations = 'Default'
as $$
declare
  v_minutes int[] := pgflow._cron_ints(_cron_next.spec, 'minutes');
  v_hours int[] := pgflow._cron_ints(_cron_next.spec, 'hours');
  v_days int[] := pgflow._cron_ints(_cron_next.spec, 'days');
  v_months int[] := pgflow._cron_ints(_cron_next.spec, 'months');
  v_weekdays int[] := pgflow._cron_ints(_cron_next.spec, 'weekdays');
  v_either boolean := (_cron_next.spec ->> 'days_restricted')::boolean
    and (_cron_next.spec ->> 'weekdays_restricted')::boolean;
  v_local timestamp := pg_catalog.timezone(_cron_next.timezone, _cron_next.after);
  v_first date := v_local::date;
  v_first_hour int := extract(hour from v_local)::int;
  v_first_minute int := extract(minute from v_local)::int;
  v_day date := v_local::date;
  v_hour int;
  v_minute int;
  v_dom boolean;
  v_dow boolean;
  v_at timestamptz;
begin
  if not pg_catalog.isfinite(_cron_next.after) then
    return null;
  end if;
  while v_day <= v_first + 2922 loop
    if not extract(month from v_day)::int = any(v_months) then
      v_day := (pg_catalog.date_trunc('month', v_day) + interval '1 month')::date;
      continue;
    end if;
    v_dom := extract(day from v_day)::int = any(v_days);
    v_dow := extract(dow from v_day)::int = any(v_weekdays);
    if (v_dom and v_dow) or (v_either and (v_dom or v_dow)) then
      foreach v_hour in array v_hours loop
        continue when v_day = v_first and v_hour < v_first_hour;
        foreach v_minute in array v_minutes loop
          continue when v_day = v_first and v_hour = v_first_hour and v_minute <= v_first_minute;
          v_at := pgflow._cron_instant(
            v_day + pg_catalog.make_interval(hours => v_hour, mins => v_minute), _cron_next.timezone
          );
          if v_at > _cron_next.after then
            return v_at;
          end if;
        end loop;
      end loop;
    end if;
    v_day := v_day + 1;
  end loop;
  return null;
end;
$$;

-- Called by _start_due_schedules with a parsed cron, for ticks missed while nothing polled: its latest tick at or
-- before at_or_before in the time zone, or null when it has none within 8 years before. Days are walked backwards from
-- the local date of at_or_before; on that day only the wall-clock times up to its local time are searched, unless the
-- day's offset changes (then a later time of the repeated hour may show an earlier instant: the whole day is).
create or replace function pgflow._cron_latest(spec jsonb, at_or_before timestamptz, timezone text)
returns timestamptz
language plpgsql
stable
set search_path = pg_catalog, pg_temp
-- (an abbreviation such as EST means what timezone_abbreviations says: pinned, so that no session's setting moves a
-- schedule's ticks)
set timezone_abbreviations = 'Default'
as $$
declare
  v_minutes int[] := pgflow._cron_ints(_cron_latest.spec, 'minutes');
  v_hours int[] := pgflow._cron_ints(_cron_latest.spec, 'hours');
  v_days int[] := pgflow._cron_ints(_cron_latest.spec, 'days');
  v_months int[] := pgflow._cron_ints(_cron_latest.spec, 'months');
  v_weekdays int[] := pgflow._cron_ints(_cron_latest.spec, 'weekdays');
  v_either boolean := (_cron_latest.spec ->> 'days_restricted')::boolean
    and (_cron_latest.spec ->> 'weekdays_restricted')::boolean;
  v_local timestamp := pg_catalog.timezone(_cron_latest.timezone, _cron_latest.at_or_before);
  v_last date := v_local::date;
  v_last_hour int := extract(hour from v_local)::int;
  v_last_minute int := extract(minute from v_local)::int;
  v_whole_day boolean;
  v_minutes_down int[] := array(select m.value from pg_catalog.unnest(v_minutes) as m (value) order by 1 desc);
  v_hours_down int[] := array(select h.value from pg_catalog.unnest(v_hours) as h (value) order by 1 desc);
  v_day date := v_local::date;
  v_hour int;
  v_minute int;
  v_dom boolean;
  v_dow boolean;
  v_at timestamptz;
begin
  if not pg_catalog.isfinite(_cron_latest.at_or_before) then
    return null;
  end if;
  v_whole_day := pg_catalog.timezone(_cron_latest.timezone, (v_last + 1)::timestamp)
    - pg_catalog.timezone(_cron_latest.timezone, v_last::timestamp) <> interval '24 hours';
  while v_day >= v_last - 2922 loop
    if not extract(month from v_day)::int = any(v_months) then
      v_day := (pg_catalog.date_trunc('month', v_day) - interval '1 day')::date;
      continue;
    end if;
    v_dom := extract(day from v_day)::int = any(v_days);
    v_dow := extract(dow from v_day)::int = any(v_weekdays);
    if (v_dom and v_dow) or (v_either and (v_dom or v_dow)) then
      foreach v_hour in array v_hours_down loop
        continue when v_day = v_last and not v_whole_day and v_hour > v_last_hour;
        foreach v_minute in array v_minutes_down loop
          continue when v_day = v_last and not v_whole_day and v_hour = v_last_hour and v_minute > v_last_minute;
          v_at := pgflow._cron_instant(
            v_day + pg_catalog.make_interval(hours => v_hour, mins => v_minute), _cron_latest.timezone
          );
          if v_at <= _cron_latest.at_or_before then
            return v_at;
          end if;
        end loop;
      end loop;
    end if;
    v_day := v_day - 1;
  end loop;
  return null;
end;
$$;

-- Called by clients (and by schedules' users, to see when a cron fires next).
create or replace function pgflow.next_cron_tick(cron text, after timestamptz, timezone text default 'UTC')
returns timestamptz
language plpgsql
stable
set search_path = pg_catalog, pg_temp
-- (an abbreviation such as EST means what timezone_abbreviations says: pinned, so that no session's setting moves a
-- schedule's ticks)
set timezone_abbreviations = 'Default'
as $$
declare
  v_spec jsonb := pgflow._cron_parse(next_cron_tick.cron, 'next_cron_tick');
begin
  perform pgflow._check_not_null('next_cron_tick', 'after', next_cron_tick.after is null);
  if not pg_catalog.isfinite(next_cron_tick.after) then
    perform pgflow._bad_argument(
      'next_cron_tick', 'after', 'a finite time (not infinity or -infinity)', next_cron_tick.after::text
    );
  end if;
  perform pgflow._check_timezone('next_cron_tick', next_cron_tick.timezone);
  return pgflow._cron_next(v_spec, next_cron_tick.after, next_cron_tick.timezone);
exception
  -- no tick before the end of PostgreSQL's range of times
  when datetime_field_overflow then
    return null;
end;
$$;

comment on function pgflow.next_cron_tick(text, timestamptz, text) is
'The first tick of a five-field cron (minute hour day-of-month month day-of-week; *, a, a-b, a,b, */n, a-b/n, '
'a/n; jan..dec, sun..sat, 7 = Sunday; @yearly @annually @monthly @weekly @daily @midnight @hourly; Vixie cron''s '
'either-day rule when both day fields are restricted) strictly after "after", as wall-clock minutes in timezone '
'(default UTC): a time skipped by a daylight saving change is no tick, a repeated one is one tick, at its first '
'occurrence. Null when the cron has no tick within 8 years (or before the end of the range of times). Errors: PF001 '
'a bad cron (naming the field, or longer than 255 characters) or an unknown time zone; PF005 a null or infinite '
'"after".';
