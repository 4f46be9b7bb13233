-- The cascade: what happens when steps finish, start, fail or get skipped, shared by start_run,
-- complete_task, fail_task, poll_for_tasks (expiry) and resume_run.
--
-- LOCK ORDER (every engine function takes row locks in this order, so they never deadlock):
--   1. the step_states row of the step a task report is about (FOR NO KEY UPDATE);
--   2. the runs row (FOR NO KEY UPDATE), only by transactions that change the run's shape: a step
--      finishing, failing or being skipped, cancel_run, resume_run. A task completion that does not
--      finish its step never locks the run, so the tasks of a wide map step do not queue on it;
--   3. step_tasks rows;
--   4. step_states rows of other steps of the run (dependents being counted down or started).
-- Expiry (several tasks in one transaction) is the one exception: it never waits, taking the run row,
-- then the step's, then the task's with SKIP LOCKED, and leaves busy tasks for its next pass.
-- Two consequences the functions below rely on:
--   * Holding the runs row, a transaction may wait for step_tasks rows (their holders never wait
--     for the run), but never for step_states rows: it updates other steps' rows with SKIP LOCKED,
--     and a task report holding such a row repairs it itself when it refuses the report because the
--     run has ended (_reject_report).
--   * Every queued task belongs to a started run: whoever ends a run cancels its queued tasks while
--     holding the runs row, and nothing creates tasks for a run that is not started. The claim in
--     poll_for_tasks relies on this.

-- Called whenever tasks became claimable right away. PostgreSQL delivers identical notifications of
-- one transaction once, so this is at most one notification per flow per transaction.
create or replace function pgflow._notify_tasks_ready(flow_slug text)
returns void
language sql
volatile
set search_path = ''
as $$
  select pg_catalog.pg_notify(
    'pgflow', pg_catalog.json_build_object('type', 'tasks_ready', 'flow_slug', _notify_tasks_ready.flow_slug)::text
  )
$$;

-- Called when a run reaches completed, failed or cancelled.
create or replace function pgflow._notify_run_finished(run_id uuid, status text)
returns void
language sql
volatile
set search_path = ''
as $$
  select pg_catalog.pg_notify(
    'pgflow',
    pg_catalog.json_build_object(
      'type', 'run_finished', 'run_id', _notify_run_finished.run_id, 'status', _notify_run_finished.status
    )::text
  )
$$;

-- Called, holding the runs row, by fail_task (exhaustion in mode "fail"), by _advance_run (an unmet
-- condition in mode "fail", a map step fed a non-array) and by expiry. The run and the step become
-- failed with the message; every other queued or started task of the run is cancelled, and so are
-- the steps that had not finished.
create or replace function pgflow._fail_run(run_id uuid, step_slug text, message text, now timestamptz)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  update pgflow.runs as r
  set status = 'failed', error = _fail_run.message, finished_at = _fail_run.now
  where r.run_id = _fail_run.run_id and r.status = 'started';
  if not found then
    return;
  end if;

  update pgflow.step_states as ss
  set status = 'failed', error = _fail_run.message, finished_at = _fail_run.now
  where ss.run_id = _fail_run.run_id and ss.step_slug = _fail_run.step_slug;

  perform pgflow._close_run(_fail_run.run_id, 'failed', _fail_run.now);
end;
$$;

-- Called, holding the runs row, by _fail_run and cancel_run once the run has its final status: every
-- queued or started task of the run is cancelled, and so is every step that had not finished (those
-- another transaction holds are left to it: see _reject_report). Then run_finished is sent.
create or replace function pgflow._close_run(run_id uuid, status text, now timestamptz)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  update pgflow.step_tasks as t
  set status = 'cancelled', finished_at = _close_run.now
  where t.run_id = _close_run.run_id and t.status in ('queued', 'started');

  update pgflow.step_states as ss
  set status = 'cancelled', finished_at = _close_run.now
  where (ss.run_id, ss.step_slug) in (
    select locked.run_id, locked.step_slug
    from pgflow.step_states as locked
    where locked.run_id = _close_run.run_id and locked.status in ('created', 'started')
    for no key update skip locked
  );

  perform pgflow._notify_run_finished(_close_run.run_id, _close_run.status);
end;
$$;

-- Called, holding the runs row, by _advance_run (an unmet condition) and fail_task (exhaustion in
-- mode "skip" or "skip-cascade"): the step becomes skipped, its unfinished tasks are cancelled, and
-- with cascade every step downstream of it that has not started is skipped too.
-- Returns the slugs of every step it skipped.
create or replace function pgflow._skip_step(
  run_id uuid, step_slug text, cascade boolean, message text, now timestamptz
)
returns text[]
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_skipped text[];
  v_downstream text[];
begin
  update pgflow.step_states as ss
  set status = 'skipped', error = _skip_step.message, finished_at = _skip_step.now
  where ss.run_id = _skip_step.run_id and ss.step_slug = _skip_step.step_slug and ss.status in ('created', 'started');
  if not found then
    return '{}'::text[];
  end if;
  v_skipped := array[_skip_step.step_slug];

  update pgflow.step_tasks as t
  set status = 'cancelled', finished_at = _skip_step.now
  where t.run_id = _skip_step.run_id and t.step_slug = _skip_step.step_slug and t.status in ('queued', 'started');

  if _skip_step.cascade then
    with recursive
    run as (
      select r.flow_slug, r.flow_version from pgflow.runs as r where r.run_id = _skip_step.run_id
    ),
    downstream (step_slug) as (
      select d.step_slug
      from pgflow.deps as d, run
      where d.flow_slug = run.flow_slug and d.flow_version = run.flow_version and d.dep_slug = _skip_step.step_slug
      union
      select d.step_slug
      from pgflow.deps as d, run, downstream
      where d.flow_slug = run.flow_slug and d.flow_version = run.flow_version and d.dep_slug = downstream.step_slug
    ),
    skipped as (
      update pgflow.step_states as ss
      set
        status = 'skipped',
        error = pg_catalog.format('skipped because step %L was skipped', _skip_step.step_slug),
        finished_at = _skip_step.now
      from downstream
      where ss.run_id = _skip_step.run_id and ss.step_slug = downstream.step_slug and ss.status = 'created'
      returning ss.step_slug
    )
    select coalesce(pg_catalog.array_agg(skipped.step_slug), '{}') into v_downstream from skipped;
    v_skipped := v_skipped || v_downstream;
  end if;

  return v_skipped;
end;
$$;

-- Called by _advance_run when nothing is left to do: the run's output is an object
-- {leaf_step_slug: output} over its completed leaf steps (steps nothing depends on).
create or replace function pgflow._complete_run(run_id uuid, now timestamptz)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  update pgflow.runs as r
  set
    status = 'completed',
    finished_at = _complete_run.now,
    output = (
      select coalesce(pg_catalog.jsonb_object_agg(ss.step_slug, ss.output), '{}'::jsonb)
      from pgflow.step_states as ss
      where ss.run_id = r.run_id
        and ss.status = 'completed'
        and not exists (
          select from pgflow.deps as d
          where d.flow_slug = r.flow_slug and d.flow_version = r.flow_version and d.dep_slug = ss.step_slug
        )
    )
  where r.run_id = _complete_run.run_id and r.status = 'started';
  if found then
    perform pgflow._notify_run_finished(_complete_run.run_id, 'completed');
  end if;
end;
$$;

-- Called, holding the runs row, by start_run, complete_task, fail_task and resume_run: counts
-- finished steps (completed or skipped) off the run and off their dependents, starts every step whose
-- dependencies are all finished, and repeats while steps finish at once (empty maps, unmet
-- conditions). Completes the run when no step is left, fails it when a step's start fails it.
create or replace function pgflow._advance_run(run_id uuid, finished text[], ready text[], now timestamptz)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_run record;
  v_remaining int;
  v_step record;
  v_input jsonb;
  v_source jsonb;
  v_condition_input jsonb;
  v_dep text;
  v_count int;
  v_newly_ready text[];
  v_notify boolean := false;
  v_finished text[] := coalesce(_advance_run.finished, '{}');
  v_ready text[] := coalesce(_advance_run.ready, '{}');
begin
  select r.flow_slug, r.flow_version, r.input, r.status, r.remaining_steps into v_run
  from pgflow.runs as r
  where r.run_id = _advance_run.run_id;
  if v_run.status <> 'started' then
    return;
  end if;
  v_remaining := v_run.remaining_steps;

  loop
    ---------------------------------------------------------------------------------------------
    -- Finished steps: one fewer remaining step each, one fewer remaining dependency for each
    -- dependent. Only the dependents' counters move, never those of other waiting steps.
    ---------------------------------------------------------------------------------------------
    if pg_catalog.cardinality(v_finished) > 0 then
      update pgflow.runs as r
      set remaining_steps = r.remaining_steps - pg_catalog.cardinality(v_finished)
      where r.run_id = _advance_run.run_id
      returning r.remaining_steps into v_remaining;

      with counted as (
        select d.step_slug, pg_catalog.count(*)::int as n
        from pgflow.deps as d
        where d.flow_slug = v_run.flow_slug and d.flow_version = v_run.flow_version and d.dep_slug = any(v_finished)
        group by d.step_slug
      ),
      updated as (
        update pgflow.step_states as ss
        set remaining_deps = ss.remaining_deps - counted.n
        from counted
        where ss.run_id = _advance_run.run_id and ss.step_slug = counted.step_slug
        returning ss.step_slug, ss.remaining_deps, ss.status
      )
      select coalesce(pg_catalog.array_agg(updated.step_slug), '{}') into v_newly_ready
      from updated
      where updated.remaining_deps = 0 and updated.status = 'created';

      v_ready := v_ready || v_newly_ready;
      v_finished := '{}';
    end if;

    exit when pg_catalog.cardinality(v_ready) = 0;

    ---------------------------------------------------------------------------------------------
    -- Ready steps, in topological order: evaluate the condition, then create the tasks.
    ---------------------------------------------------------------------------------------------
    for v_step in
      select s.*
      from pgflow.steps as s
      where s.flow_slug = v_run.flow_slug and s.flow_version = v_run.flow_version and s.step_slug = any(v_ready)
      order by s.step_index
    loop
      -- the input the step would receive: the run input for a root step, else its completed deps' outputs
      if v_step.deps_count = 0 then
        v_input := v_run.input;
      else
        select coalesce(pg_catalog.jsonb_object_agg(d.dep_slug, ss.output), '{}'::jsonb) into v_input
        from pgflow.deps as d
        inner join pgflow.step_states as ss
          on ss.run_id = _advance_run.run_id and d.dep_slug = ss.step_slug and ss.status = 'completed'
        where d.flow_slug = v_run.flow_slug and d.flow_version = v_run.flow_version and d.step_slug = v_step.step_slug;
      end if;

      v_condition_input := v_input;
      if v_step.step_type = 'map' then
        if v_step.deps_count = 0 then
          v_source := v_run.input;
          v_dep := null;
        else
          select d.dep_slug into v_dep
          from pgflow.deps as d
          where d.flow_slug = v_run.flow_slug and d.flow_version = v_run.flow_version
            and d.step_slug = v_step.step_slug;
          -- a skipped dependency feeds an empty array
          v_source := coalesce(v_input -> v_dep, '[]'::jsonb);
        end if;
        if pg_catalog.jsonb_typeof(v_source) <> 'array' then
          perform pgflow._fail_run(
            _advance_run.run_id,
            v_step.step_slug,
            case
              when v_dep is null then pg_catalog.format(
                'map step %L needs the run input to be a JSON array, got %s',
                v_step.step_slug, pg_catalog.jsonb_typeof(v_source)
              )
              else pg_catalog.format(
                'step %L returned %s, but map step %L needs a JSON array to map over',
                v_dep, pg_catalog.jsonb_typeof(v_source), v_step.step_slug
              )
            end,
            _advance_run.now
          );
          return;
        end if;
        v_condition_input := v_source;
      end if;

      -- the condition
      if (v_step.condition_if is not null and not v_condition_input @> v_step.condition_if)
         or (v_step.condition_if_not is not null and v_condition_input @> v_step.condition_if_not) then
        if v_step.when_unmet = 'fail' then
          perform pgflow._fail_run(
            _advance_run.run_id,
            v_step.step_slug,
            pg_catalog.format('step %L: its condition is not met (when_unmet is "fail")', v_step.step_slug),
            _advance_run.now
          );
          return;
        end if;
        v_finished := v_finished || pgflow._skip_step(
          _advance_run.run_id, v_step.step_slug, v_step.when_unmet = 'skip-cascade', null, _advance_run.now
        );
        continue;
      end if;

      -- the tasks: one for a single step, one per element for a map step
      v_count := case when v_step.step_type = 'map' then pg_catalog.jsonb_array_length(v_source) else 1 end;

      if v_count = 0 then
        update pgflow.step_states as ss
        set
          status = 'completed', remaining_tasks = 0, initial_tasks = 0, output = '[]'::jsonb,
          started_at = _advance_run.now, finished_at = _advance_run.now
        where ss.run_id = _advance_run.run_id and ss.step_slug = v_step.step_slug;
        v_finished := v_finished || v_step.step_slug;
        continue;
      end if;

      update pgflow.step_states as ss
      set status = 'started', remaining_tasks = v_count, initial_tasks = v_count, started_at = _advance_run.now
      where ss.run_id = _advance_run.run_id and ss.step_slug = v_step.step_slug;

      if v_step.step_type = 'map' then
        insert into pgflow.step_tasks (
          run_id, step_slug, task_index, flow_slug, status, input, visible_at, queued_at
        )
        select
          _advance_run.run_id, v_step.step_slug, e.pos::int - 1, v_run.flow_slug, 'queued', e.element,
          _advance_run.now + pgflow._seconds(v_step.start_delay), _advance_run.now
        from pg_catalog.jsonb_array_elements(v_source) with ordinality as e (element, pos);
      else
        insert into pgflow.step_tasks (run_id, step_slug, task_index, flow_slug, status, visible_at, queued_at)
        values (
          _advance_run.run_id, v_step.step_slug, 0, v_run.flow_slug, 'queued',
          _advance_run.now + pgflow._seconds(v_step.start_delay), _advance_run.now
        );
      end if;

      -- delayed tasks send nothing: workers find them on their fallback poll
      v_notify := v_notify or v_step.start_delay = 0;
    end loop;

    v_ready := '{}';
  end loop;

  if v_notify then
    perform pgflow._notify_tasks_ready(v_run.flow_slug);
  end if;
  if v_remaining = 0 then
    perform pgflow._complete_run(_advance_run.run_id, _advance_run.now);
  end if;
end;
$$;

-- Called by complete_task for the task that finishes its step, holding the runs row: the step's
-- output is its task's output (single) or the array of its tasks' outputs in task_index order (map,
-- aggregated once, here), then the cascade runs.
create or replace function pgflow._complete_step(run_id uuid, step_slug text, task_output jsonb, now timestamptz)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_step_type text;
  v_output jsonb;
begin
  select s.step_type into v_step_type
  from pgflow.step_states as ss
  inner join pgflow.steps as s
    on s.flow_slug = ss.flow_slug and s.flow_version = ss.flow_version and s.step_slug = ss.step_slug
  where ss.run_id = _complete_step.run_id and ss.step_slug = _complete_step.step_slug;

  if v_step_type = 'map' then
    select pg_catalog.jsonb_agg(t.output order by t.task_index) into v_output
    from pgflow.step_tasks as t
    where t.run_id = _complete_step.run_id and t.step_slug = _complete_step.step_slug;
  else
    v_output := _complete_step.task_output;
  end if;

  update pgflow.step_states as ss
  set status = 'completed', remaining_tasks = 0, output = v_output, finished_at = _complete_step.now
  where ss.run_id = _complete_step.run_id and ss.step_slug = _complete_step.step_slug;

  perform pgflow._advance_run(_complete_step.run_id, array[_complete_step.step_slug], '{}', _complete_step.now);
end;
$$;

-- Called by complete_task and fail_task, holding the reported step's row, whenever they refuse a
-- report (return false). PF007 when the task does not exist. When the run is no longer started, a
-- cancel or failure may have ended it while this transaction held the step's row (waiting for the
-- task row, say): that transaction had to skip the row, so the task and step it left unfinished are
-- cancelled here, and no step of an ended run stays started.
create or replace function pgflow._reject_report(run_id uuid, step_slug text, task_index int, now timestamptz)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
begin
  perform pgflow._check_task_exists(_reject_report.run_id, _reject_report.step_slug, _reject_report.task_index);
  if (select r.status from pgflow.runs as r where r.run_id = _reject_report.run_id) = 'started' then
    return false;
  end if;

  update pgflow.step_tasks as t
  set status = 'cancelled', finished_at = _reject_report.now
  where t.run_id = _reject_report.run_id and t.step_slug = _reject_report.step_slug
    and t.task_index = _reject_report.task_index and t.status in ('queued', 'started');

  update pgflow.step_states as ss
  set status = 'cancelled', finished_at = _reject_report.now
  where ss.run_id = _reject_report.run_id and ss.step_slug = _reject_report.step_slug
    and ss.status in ('created', 'started');
  return false;
end;
$$;

-- Called by the task reports: PF007 unless the task exists.
create or replace function pgflow._check_task_exists(run_id uuid, step_slug text, task_index int)
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if not exists (
    select from pgflow.step_tasks as t
    where t.run_id = _check_task_exists.run_id and t.step_slug = _check_task_exists.step_slug
      and t.task_index = _check_task_exists.task_index
  ) then
    raise exception using
      errcode = 'PF007',
      message = pg_catalog.format(
        'task %s of step %L in run %s does not exist',
        _check_task_exists.task_index, _check_task_exists.step_slug, _check_task_exists.run_id
      ),
      detail = pg_catalog.jsonb_build_object(
        'run_id', _check_task_exists.run_id, 'step_slug', _check_task_exists.step_slug,
        'task_index', _check_task_exists.task_index
      )::text;
  end if;
end;
$$;
