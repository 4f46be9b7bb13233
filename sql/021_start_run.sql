-- Starting runs: start_run and its pgflow-compatible alias start_flow.
--
-- One transaction creates the run row, one step state per step, and runs the cascade from the
-- root steps: conditions, tasks of ready steps, empty maps completed at once, and the notification.

-- Called by start_run, by sub-flow steps for their child runs (_start_child, with the parent task recorded) and by
-- schedules (_start_due_schedules, with the schedule and its tick recorded): starts
-- a run of the current version of a flow (pgflow.flows.is_current: the newest definition, unless
-- set_current_version chose another).
create or replace function pgflow._start_run(
  flow_slug text, input jsonb, run_id uuid, idempotency_key text, priority int,
  parent_run_id uuid, parent_step_slug text, parent_task_index int, parent_attempt int,
  schedule_slug text default null, schedule_tick timestamptz default null
)
returns pgflow.runs
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
#variable_conflict use_column
declare
  v_now timestamptz := pgflow.now();
  v_input jsonb := coalesce(_start_run.input, 'null'::jsonb);
  v_flow pgflow.flows;
  v_run pgflow.runs;
  v_root_map text;
  v_input_size bigint := pgflow._json_size(coalesce(_start_run.input, 'null'::jsonb));
begin
  perform pgflow._check_not_null('start_run', 'flow_slug', _start_run.flow_slug is null);
  if _start_run.priority is null or _start_run.priority not between -1000 and 1000 then
    perform pgflow._bad_argument('start_run', 'priority', 'an integer from -1000 to 1000', _start_run.priority::text);
  end if;
  if v_input_size > pgflow.max_output_size() then
    raise exception using
      errcode = 'PF005',
      message = pg_catalog.format(
        'start_run: input is %s bytes, more than the limit of %s bytes (pgflow.max_output_size())',
        v_input_size, pgflow.max_output_size()
      );
  end if;

  perform pgflow._lock_flow_for_start(_start_run.flow_slug);
  select f.* into v_flow
  from pgflow.flows as f
  where f.flow_slug = _start_run.flow_slug and f.is_current;
  if not found then
    raise exception using
      errcode = 'PF004',
      message = pg_catalog.format(
        'flow %s does not exist; define it first with define_flow', pgflow._shown(_start_run.flow_slug)
      );
  end if;

  if _start_run.idempotency_key is not null then
    select r.* into v_run
    from pgflow.runs as r
    where r.flow_slug = _start_run.flow_slug and r.idempotency_key = _start_run.idempotency_key;
    if found then
      return v_run;
    end if;
    -- (checked once no run has the key: a run of 0.1.0 may have a longer one)
    perform pgflow._check_name('start_run', 'idempotency_key', _start_run.idempotency_key);
  end if;

  select s.step_slug into v_root_map
  from pgflow.steps as s
  where s.flow_slug = v_flow.flow_slug and s.flow_version = v_flow.version
    and s.step_type = 'map' and s.deps_count = 0
  order by s.step_index
  limit 1;
  if v_root_map is not null and pg_catalog.jsonb_typeof(v_input) <> 'array' then
    raise exception using
      errcode = 'PF005',
      message = pg_catalog.format(
        'flow %L starts with map step %L, so its input must be a JSON array, got %s',
        v_flow.flow_slug, v_root_map, pg_catalog.jsonb_typeof(v_input)
      );
  end if;

  if _start_run.run_id is not null and exists (select from pgflow.runs as r where r.run_id = _start_run.run_id) then
    raise exception using
      errcode = 'PF008',
      message = pg_catalog.format('run %s already exists; pass a new run_id or none', _start_run.run_id);
  end if;

  insert into pgflow.runs (
    run_id, flow_slug, flow_version, status, input, idempotency_key, remaining_steps, started_at, priority,
    parent_run_id, parent_step_slug, parent_task_index, parent_attempt, schedule_slug, schedule_tick
  )
  values (
    coalesce(_start_run.run_id, pg_catalog.gen_random_uuid()),
    v_flow.flow_slug,
    v_flow.version,
    'started',
    v_input,
    _start_run.idempotency_key,
    (
      select pg_catalog.count(*) from pgflow.steps as s
      where s.flow_slug = v_flow.flow_slug and s.flow_version = v_flow.version
    ),
    v_now,
    _start_run.priority,
    _start_run.parent_run_id,
    _start_run.parent_step_slug,
    _start_run.parent_task_index,
    _start_run.parent_attempt,
    _start_run.schedule_slug,
    _start_run.schedule_tick
  )
  on conflict do nothing
  returning * into v_run;

  if not found then
    -- a concurrent call won the race: with the same idempotency key, its run is this call's run; with the
    -- same run_id, this call cannot create it
    select r.* into v_run
    from pgflow.runs as r
    where r.flow_slug = _start_run.flow_slug and r.idempotency_key = _start_run.idempotency_key;
    if found then
      return v_run;
    end if;
    raise exception using
      errcode = 'PF008',
      message = pg_catalog.format('run %s already exists; pass a new run_id or none', _start_run.run_id);
  end if;

  insert into pgflow.step_states (run_id, step_slug, flow_slug, flow_version, status, remaining_deps)
  select v_run.run_id, s.step_slug, s.flow_slug, s.flow_version, 'created', s.deps_count
  from pgflow.steps as s
  where s.flow_slug = v_flow.flow_slug and s.flow_version = v_flow.version;

  perform pgflow._advance(
    '{}',
    '{}',
    array(
      select v_run.run_id
      from pgflow.steps as s
      where s.flow_slug = v_flow.flow_slug and s.flow_version = v_flow.version and s.deps_count = 0
    ),
    array(
      select s.step_slug
      from pgflow.steps as s
      where s.flow_slug = v_flow.flow_slug and s.flow_version = v_flow.version and s.deps_count = 0
    ),
    v_now
  );
  if v_run.remaining_steps = 0 then
    -- a flow without steps has nothing to do
    perform pgflow._complete_runs(array[v_run.run_id], v_now);
  end if;

  select r.* into v_run from pgflow.runs as r where r.run_id = v_run.run_id;
  return v_run;
end;
$$;


-- Called by clients to start a run of the current version of a flow.
create or replace function pgflow.start_run(
  flow_slug text, input jsonb default '{}', run_id uuid default null, idempotency_key text default null,
  priority int default 0
)
returns pgflow.runs
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  return pgflow._start_run(
    start_run.flow_slug, start_run.input, start_run.run_id, start_run.idempotency_key, start_run.priority,
    null, null, null, null
  );
end;
$$;

comment on function pgflow.start_run(text, jsonb, uuid, text, int) is
'Starts a run of the current version of a flow. A second call with the same idempotency_key returns the '
'first run. priority (-1000 to 1000, default 0): among due tasks, those of runs of higher priority are claimed '
'first (within the flow-controlled buckets, then within the main queue). Errors: PF004 unknown flow; PF005 a root '
'map step needs an array input, an input over pgflow.max_output_size(), a bad idempotency_key, a priority out of '
'range; PF008 a run_id that exists.';

-- Called by SQL written for pgflow's TypeScript edition.
create or replace function pgflow.start_flow(
  flow_slug text, input jsonb, run_id uuid default null, priority int default 0
)
returns setof pgflow.runs
language sql
volatile
set search_path = pg_catalog, pg_temp
as $$
  select * from pgflow.start_run(
    start_flow.flow_slug, start_flow.input, start_flow.run_id, priority => start_flow.priority
  )
$$;

comment on function pgflow.start_flow(text, jsonb, uuid, int) is
'pgflow-compatible alias of start_run (priority as there).';
