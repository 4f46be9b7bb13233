-- Cron schedules: create_schedule, drop_schedule, and the start of due ticks by the polls.
--
-- A schedule starts a run of its flow's current version with its input at each tick of its cron (sql/012_cron.sql)
-- in its time zone. No cron job is needed: poll_for_tasks (and expire_tasks) probe pgflow.schedules_next_tick for a
-- schedule whose next tick has come, and start it. Each tick starts once however many pollers race: a poller
-- takes a due schedule's row with FOR UPDATE SKIP LOCKED (the others skip it, and once it committed, READ
-- COMMITTED's re-check of the row excludes it: its next tick moved on), and the run's idempotency key
-- schedule:<slug>:<tick in UTC ISO 8601> would return the tick's run even to a second start. Ticks missed while
-- nothing polled start once, for the latest of them.
--
-- Lock order: a schedule's row, then what start_run takes (the flow's start lock, the new run's rows).

-- Called by create_schedule: PF001 unless the schedule's flow slug, cron and time zone are valid and the cron
-- ticks within 8 years; PF004 for a flow that was never defined; PF005 for an input that is SQL null, over
-- pgflow.max_output_size(), or not an array for a flow whose current version starts with a map step. Returns the
-- schedule's first tick after now.
create or replace function pgflow._check_schedule(
  flow_slug text, cron text, input jsonb, timezone text, now timestamptz
)
returns timestamptz
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_spec jsonb := pgflow._cron_parse(_check_schedule.cron, 'create_schedule');
  v_next timestamptz;
  v_root_map text;
begin
  perform pgflow._check_slug('create_schedule: flow_slug', _check_schedule.flow_slug);
  perform pgflow._check_timezone('create_schedule', _check_schedule.timezone);
  perform pgflow._check_not_null('create_schedule', 'input', _check_schedule.input is null);
  if pgflow._json_size(_check_schedule.input) > pgflow.max_output_size() then
    raise exception using
      errcode = 'PF005',
      message = pg_catalog.format(
        'create_schedule: input is %s bytes, more than the limit of %s bytes (pgflow.max_output_size())',
        pgflow._json_size(_check_schedule.input), pgflow.max_output_size()
      );
  end if;
  if not exists (select from pgflow.flows as f where f.flow_slug = _check_schedule.flow_slug) then
    raise exception using
      errcode = 'PF004',
      message = pg_catalog.format(
        'create_schedule: flow %s does not exist; define it first with define_flow',
        pgflow._shown(_check_schedule.flow_slug)
      );
  end if;
  select s.step_slug into v_root_map
  from pgflow.flows as f
  inner join pgflow.steps as s on f.flow_slug = s.flow_slug and f.version = s.flow_version
  where f.flow_slug = _check_schedule.flow_slug and f.is_current and s.step_type = 'map' and s.deps_count = 0
  order by s.step_index
  limit 1;
  if v_root_map is not null and pg_catalog.jsonb_typeof(_check_schedule.input) <> 'array' then
    raise exception using
      errcode = 'PF005',
      message = pg_catalog.format(
        'create_schedule: flow %L starts with map step %L, so input must be a JSON array, got %s',
        _check_schedule.flow_slug, v_root_map, pg_catalog.jsonb_typeof(_check_schedule.input)
      );
  end if;
  v_next := pgflow._cron_next(v_spec, _check_schedule.now, _check_schedule.timezone);
  if v_next is null then
    perform pgflow._cron_error('create_schedule', _check_schedule.cron, 'never ticks (none within 8 years)');
  end if;
  return v_next;
end;
$$;

-- Called by create_schedule: PF008 when the schedule exists for another flow than flow_slug.
create or replace function pgflow._check_schedule_owner(schedule_slug text, flow_slug text)
returns void
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_owner text;
begin
  select s.flow_slug into v_owner from pgflow.schedules as s where s.schedule_slug = _check_schedule_owner.schedule_slug;
  if v_owner is not null and v_owner <> _check_schedule_owner.flow_slug then
    raise exception using
      errcode = 'PF008',
      message = pg_catalog.format(
        'create_schedule: schedule %L belongs to flow %L, not %s; drop it first (drop_schedule) to give its slug to '
        'another flow',
        _check_schedule_owner.schedule_slug, v_owner, pgflow._shown(_check_schedule_owner.flow_slug)
      );
  end if;
end;
$$;

-- Called by clients, and by workers for the schedules their flows declare (at every start: a schedule declared
-- again unchanged is left as it is).
create or replace function pgflow.create_schedule(
  schedule_slug text, flow_slug text, cron text, input jsonb default '{}', timezone text default 'UTC'
)
returns pgflow.schedules
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now timestamptz := pgflow.now();
  v_schedule pgflow.schedules;
  v_next timestamptz;
begin
  perform pgflow._check_slug('create_schedule: schedule_slug', create_schedule.schedule_slug);
  -- unchanged: nothing to check (its values were checked when written) and nothing to write
  select s.* into v_schedule
  from pgflow.schedules as s
  where s.schedule_slug = create_schedule.schedule_slug
    and s.flow_slug = create_schedule.flow_slug and s.cron = create_schedule.cron
    and s.timezone = create_schedule.timezone and s.input = create_schedule.input;
  if found then
    return v_schedule;
  end if;
  v_next := pgflow._check_schedule(
    create_schedule.flow_slug, create_schedule.cron, create_schedule.input, create_schedule.timezone, v_now
  );
  -- a schedule stays with its flow: two flows declaring one slug would otherwise take it from each other at each
  -- worker start
  perform pgflow._check_schedule_owner(create_schedule.schedule_slug, create_schedule.flow_slug);
  -- concurrent writers of one slug serialize on its row; a writer that finds the row as it would write it
  -- writes nothing
  insert into pgflow.schedules as s (
    schedule_slug, flow_slug, cron, timezone, input, next_tick, created_at, updated_at
  )
  values (
    create_schedule.schedule_slug, create_schedule.flow_slug, create_schedule.cron, create_schedule.timezone,
    create_schedule.input, v_next, v_now, v_now
  )
  on conflict on constraint schedules_pkey do update
  set
    flow_slug = excluded.flow_slug, cron = excluded.cron, timezone = excluded.timezone, input = excluded.input,
    next_tick = excluded.next_tick, updated_at = excluded.updated_at
  where s.flow_slug = excluded.flow_slug
    and (s.cron, s.timezone, s.input) is distinct from (excluded.cron, excluded.timezone, excluded.input)
  returning s.* into v_schedule;
  if not found then
    perform pgflow._check_schedule_owner(create_schedule.schedule_slug, create_schedule.flow_slug);
    select s.* into v_schedule from pgflow.schedules as s where s.schedule_slug = create_schedule.schedule_slug;
  end if;
  return v_schedule;
end;
$$;

comment on function pgflow.create_schedule(text, text, text, jsonb, text) is
'Creates or updates the schedule schedule_slug: polls start a run of flow_slug''s current version with input at '
'each tick of cron (five fields or a macro, as next_cron_tick reads it) in timezone, once per tick (idempotency key '
'schedule:<slug>:<tick in UTC, ISO 8601>); ticks missed while nothing polled start once, for the latest. The '
'same values again return the row unchanged; other values update it and its next tick (from now). Returns the '
'row. Errors: PF001 a bad slug, cron (or one that never ticks) or time zone; PF004 an unknown flow; PF005 an input '
'that is SQL null, too large, or not an array for a flow that starts with a map step; PF008 a slug that belongs to '
'a schedule of another flow (drop it first).';

-- Called by clients: removes a schedule. Runs it started stay.
create or replace function pgflow.drop_schedule(schedule_slug text)
returns boolean
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  perform pgflow._check_slug('drop_schedule: schedule_slug', drop_schedule.schedule_slug);
  delete from pgflow.schedules as s where s.schedule_slug = drop_schedule.schedule_slug;
  return found;
end;
$$;

comment on function pgflow.drop_schedule(text) is
'Removes the schedule schedule_slug; runs it started stay. Returns true when it existed, false otherwise. PF001 '
'for a schedule_slug that is not a slug.';

-- Called by _poll_for_tasks and expire_tasks once a probe of schedules_next_tick found a due schedule: starts a
-- run for each due schedule (at most 100 per call, oldest due first; the rest are left for the next poll), for
-- its latest tick at or before now, and moves its next tick past now. Schedules another transaction holds are
-- skipped (it is starting them). A tick whose run cannot start (its input refused by the flow's current version,
-- the flow gone) is recorded in last_error and the schedule moves on all the same: it never fails the poll.
-- Returns how many runs it started.
create or replace function pgflow._start_due_schedules(now timestamptz)
returns int
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
declare
  v_schedule pgflow.schedules;
  v_spec jsonb;
  v_tick timestamptz;
  v_next timestamptz;
  v_run pgflow.runs;
  v_error text;
  v_sqlstate text;
  v_started int := 0;
begin
  for v_schedule in
    select s.*
    from pgflow.schedules as s
    where s.next_tick <= _start_due_schedules.now
    order by s.next_tick
    limit 100
    for update skip locked
  loop
    begin
      v_spec := pgflow._cron_parse(v_schedule.cron, 'create_schedule');
      -- the latest tick due (never before the one recorded), and the first one after now
      v_tick := greatest(
        v_schedule.next_tick,
        coalesce(pgflow._cron_latest(v_spec, _start_due_schedules.now, v_schedule.timezone), v_schedule.next_tick)
      );
      v_next := coalesce(pgflow._cron_next(v_spec, _start_due_schedules.now, v_schedule.timezone), 'infinity');
    exception
      when others then
        -- a cron or a time zone that no longer reads (written by a version of the engine that read crons otherwise,
        -- or a zone a later tz database dropped): that schedule stops, the poll goes on
        get stacked diagnostics v_error = message_text;
        update pgflow.schedules as s
        set next_tick = 'infinity', last_error = pgflow._clip(pg_catalog.format(
          'the schedule''s cron or time zone no longer reads: %s; create the schedule again with valid ones', v_error
        ))
        where s.schedule_slug = v_schedule.schedule_slug;
        continue;
    end;
    begin
      -- (start_run's body, the run recording its schedule and tick as it is written)
      v_run := pgflow._start_run(
        v_schedule.flow_slug, v_schedule.input, null,
        pg_catalog.format(
          'schedule:%s:%s', v_schedule.schedule_slug,
          pg_catalog.to_char(pg_catalog.timezone('UTC', v_tick), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
        ),
        0, null, null, null, null, v_schedule.schedule_slug, v_tick
      );
      -- a run started earlier with this tick's key (by hand) is the tick's run: it records the schedule now
      update pgflow.runs as r
      set schedule_slug = v_schedule.schedule_slug, schedule_tick = v_tick
      where r.run_id = v_run.run_id and r.schedule_slug is null;
      update pgflow.schedules as s
      set next_tick = v_next, last_tick = v_tick, last_run_id = v_run.run_id, last_error = null
      where s.schedule_slug = v_schedule.schedule_slug;
      v_started := v_started + 1;
    exception
      when others then
        get stacked diagnostics v_error = message_text, v_sqlstate = returned_sqlstate;
        update pgflow.schedules as s
        set next_tick = v_next, last_error = pgflow._clip(pg_catalog.format(
          'tick %s could not start a run (%s): %s',
          pg_catalog.to_char(pg_catalog.timezone('UTC', v_tick), 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), v_sqlstate, v_error
        ))
        where s.schedule_slug = v_schedule.schedule_slug;
    end;
  end loop;
  return v_started;
end;
$$;
