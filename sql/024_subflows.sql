-- Sub-flow steps: a step {"flow": "child"} (single or map) whose tasks are held by the engine, each starting a run
-- of the child flow's current version (a child run) with the task's input, and completing with that run's output.
--
-- Definitions: define_flow checks that every child flow exists (PF004) and that no flow would contain itself
-- through sub-flow steps, across every version of every flow (PF003, with the path).
-- Parent -> child: _start_step hands a ready sub-flow step to _start_subflow_tasks (engine-held tasks: started, no
-- worker, never queued); a retry (_fail_attempt) starts a new child at once; resume_run resumes the latest child of
-- each re-opened task; a run that ends (_close_run) cancels its unfinished children, and so does a step skipped
-- (_skip_step) or an attempt that fails while its child still runs (fail_task, expiry).
-- Child -> parent: a child run that ends (_complete_runs, _close_run) settles its parent task (_settle_child):
-- completed -> the parent task completes with the child's output (the normal completion path); failed or cancelled
-- -> the parent task's attempt fails, retried per max_attempts. Fenced by runs.parent_attempt: a child whose
-- parent task moved on changes nothing.
--
-- LOCK ORDER. A transaction holding a child run's row never waits long for a row of its parent run: cancel_run of
-- the parent holds the parent's row and waits for its children's. So the child side waits for the parent's run row
-- only a moment (_lock_parent_run: less than PostgreSQL's deadlock_timeout, so a cycle with a parent side ends by
-- this wait giving up, never by a deadlock error), takes the parent's step state and task with SKIP LOCKED and, when
-- one is busy, leaves the child unsettled (runs.parent_settled_at null): a poll, or expire_tasks(), settles it later
-- (_settle_children). The parent side (cancelling, resuming children)
-- waits for child rows, always downwards. A child run that ends within the transaction that starts it (or resumes
-- it for its parent) is left to the next poll too, so that no cascade of the parent runs inside another.

-- Called by _subflow_error: the step options a sub-flow step refuses, in one place.
create or replace function pgflow._subflow_refused_options()
returns setof text
language sql
immutable
parallel safe
as $$
  select o.key
  from pg_catalog.unnest(array[
    'start_delay', 'base_delay', 'max_delay', 'concurrency', 'concurrency_key', 'rate_limit'
  ]) as o (key)
$$;

-- Called by the definition validators: what is wrong with a step's "flow" key and the options it refuses, as the end
-- of a PF001 message, or null when the step is not a sub-flow step or is a valid one.
create or replace function pgflow._subflow_error(step jsonb)
returns text
language sql
immutable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
  select case
    when coalesce(_subflow_error.step -> 'flow', 'null'::jsonb) = 'null'::jsonb then null
    when pg_catalog.jsonb_typeof(_subflow_error.step -> 'flow') <> 'string'
      or (_subflow_error.step ->> 'flow') !~ '^[a-zA-Z_][a-zA-Z0-9_]*$'
      or pg_catalog.length(_subflow_error.step ->> 'flow') > 128 then pg_catalog.format(
      'flow must be the slug of the child flow (1 to 128 letters, digits and underscores), got %s',
      pgflow._shown((_subflow_error.step -> 'flow')::text)
    )
    else (
      select pg_catalog.format(
        'option(s) %s mean nothing for a sub-flow step (its tasks are child runs, not worker tasks; a retry starts '
        'the next child run at once); it takes max_attempts, timeout, if, if_not, when_unmet and when_exhausted',
        pg_catalog.string_agg(o.key, ', ' order by o.key)
      )
      from pgflow._subflow_refused_options() as o (key)
      where coalesce(_subflow_error.step -> o.key, 'null'::jsonb) <> 'null'::jsonb
      having pg_catalog.count(*) > 0
    )
  end
$$;

-- How deep sub-flows may nest: a run whose step starts a child run whose step starts another, and so on. Each level
-- runs inside the cascade of the level above it, in one transaction, and PostgreSQL's stack (max_stack_depth, 2 MB
-- by default) held about a hundred levels; 32 leaves room below it.
create or replace function pgflow._max_subflow_depth()
returns int
language sql
immutable
parallel safe
as $$
  select 32
$$;

-- Called by define_flow for a definition that becomes a new version: PF004 for a child flow that does not exist,
-- PF003 when a flow would contain itself through sub-flow steps, PF001 when sub-flows would nest more than
-- _max_subflow_depth() levels. The edges parent flow -> child flow of every
-- version of every flow count (runs start on the current version, which set_current_version may move to any), and
-- the walk starts from the new definition's children. steps: normalized steps.
create or replace function pgflow._check_subflows(flow_slug text, steps jsonb)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_missing text;
  v_path text[];
  v_depth int;
begin
  if not exists (
    select from pg_catalog.jsonb_array_elements(_check_subflows.steps) as s (step) where s.step ? 'flow'
  ) then
    return;
  end if;

  -- definitions with sub-flow steps are checked one at a time: two of them naming each other, written at once,
  -- would each find no cycle in what the other has not committed yet
  insert into pgflow.locks (name) values ('subflow_edges') on conflict do nothing;
  perform from pgflow.locks as l where l.name = 'subflow_edges' for update;

  select pg_catalog.string_agg(distinct s.step ->> 'flow', ', ') into v_missing
  from pg_catalog.jsonb_array_elements(_check_subflows.steps) as s (step)
  where s.step ? 'flow' and s.step ->> 'flow' <> _check_subflows.flow_slug
    and not exists (select from pgflow.flows as f where f.flow_slug = s.step ->> 'flow' and f.is_current);
  if v_missing is not null then
    raise exception using
      errcode = 'PF004',
      message = pg_catalog.format(
        'flow %L: sub-flow step(s) name flow(s) %s, which do not exist; define the child flows first',
        _check_subflows.flow_slug, pgflow._shown(v_missing)
      );
  end if;

  with recursive
  edges as (
    select distinct s.flow_slug as parent, s.subflow_slug as child
    from pgflow.steps as s
    where s.subflow_slug is not null and s.flow_slug <> _check_subflows.flow_slug
  ),
  walk (node, path, closed) as (
    select distinct n.step ->> 'flow', array[_check_subflows.flow_slug, n.step ->> 'flow'],
      n.step ->> 'flow' = _check_subflows.flow_slug
    from pg_catalog.jsonb_array_elements(_check_subflows.steps) as n (step)
    where n.step ? 'flow'
    union all
    select e.child, w.path || e.child, e.child = _check_subflows.flow_slug
    from walk as w
    inner join edges as e on e.parent = w.node
    where not w.closed and not (e.child = any(w.path[2:]))
  )
  select w.path into v_path from walk as w where w.closed order by pg_catalog.cardinality(w.path) limit 1;
  if v_path is null then
    -- no cycle: how deep the nesting would go, from the deepest flow containing this one down to the deepest child
    -- flow below it (each level is a run started inside the transaction of its parent's cascade, which PostgreSQL's
    -- stack bounds)
    with recursive
    edges as (
      select distinct s.flow_slug as parent, s.subflow_slug as child
      from pgflow.steps as s
      where s.subflow_slug is not null and s.flow_slug <> _check_subflows.flow_slug
    ),
    below (node, depth) as (
      select distinct n.step ->> 'flow', 1
      from pg_catalog.jsonb_array_elements(_check_subflows.steps) as n (step)
      where n.step ? 'flow'
      union
      select e.child, b.depth + 1 from below as b inner join edges as e on e.parent = b.node
      where b.depth < 1000
    ),
    above (node, depth) as (
      select _check_subflows.flow_slug, 0
      union
      select e.parent, a.depth + 1 from above as a inner join edges as e on e.child = a.node
      where a.depth < 1000
    )
    -- (in runs: the outermost run, and one more for each level of child runs)
    select 1 + (select pg_catalog.max(b.depth) from below as b) + (select pg_catalog.max(a.depth) from above as a)
    into v_depth;
    if v_depth > pgflow._max_subflow_depth() then
      raise exception using
        errcode = 'PF001',
        message = pg_catalog.format(
          'flow %L: its sub-flow steps would nest runs %s levels deep (counting the flows that contain it), more '
          'than the limit of %s',
          _check_subflows.flow_slug, v_depth, pgflow._max_subflow_depth()
        );
    end if;
  end if;
  if v_path is not null then
    raise exception using
      errcode = 'PF003',
      message = pg_catalog.format(
        'flow %L would contain itself: %s (each flow runs the next as a sub-flow)',
        _check_subflows.flow_slug, pg_catalog.array_to_string(v_path, ' -> ')
      ),
      detail = pg_catalog.jsonb_build_object('cycle', pg_catalog.to_jsonb(v_path))::text;
  end if;
end;
$$;

-- Called by _start_subflow_tasks, _retry_subflow_task and _resume_subflow_tasks: starts a child run of flow_slug's
-- current version for one attempt of a sub-flow task (start_run's internals, with the parent recorded). PF005 when
-- the child flow refuses the input (raised: the callers catch it).
create or replace function pgflow._start_child(
  flow_slug text, input jsonb, priority int, parent_run_id uuid, parent_step_slug text, parent_task_index int,
  parent_attempt int
)
returns uuid
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  return (pgflow._start_run(
    _start_child.flow_slug, _start_child.input, null, null, _start_child.priority,
    _start_child.parent_run_id, _start_child.parent_step_slug, _start_child.parent_task_index,
    _start_child.parent_attempt
  )).run_id;
end;
$$;

-- Called by _start_step for a ready sub-flow step with at least one task (the step state is started already):
-- one engine-held task per input (inputs: a JSON array; one element for a single step), each with a child run.
-- A child input the child flow refuses (PF005) fails its task without retry: the step's when_exhausted applies, and
-- no child run of this step is started. Returns as _start_step: the steps finished at once, or null when the run
-- failed.
create or replace function pgflow._start_subflow_tasks(run_id uuid, step pgflow.steps, inputs jsonb, now timestamptz)
returns text[]
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
declare
  v_priority int;
  v_refused int;
  v_error text;
begin
  select r.priority into v_priority from pgflow.runs as r where r.run_id = _start_subflow_tasks.run_id;

  -- the child runs first, the tasks after: a child that ends while it starts finds no task yet and waits for a
  -- poll (see LOCK ORDER above); a refused input undoes every child of the step
  begin
    for v_index in 0 .. pg_catalog.jsonb_array_length(_start_subflow_tasks.inputs) - 1 loop
      v_refused := v_index;
      perform pgflow._start_child(
        _start_subflow_tasks.step.subflow_slug, _start_subflow_tasks.inputs -> v_index, v_priority,
        _start_subflow_tasks.run_id, _start_subflow_tasks.step.step_slug, v_index, 1
      );
    end loop;
    v_refused := null;
  exception
    when sqlstate 'PF005' then
      get stacked diagnostics v_error = message_text;
  end;

  insert into pgflow.step_tasks (
    run_id, step_slug, task_index, flow_slug, status, attempt, input, error, visible_at, queued_at, started_at,
    deadline, finished_at, priority
  )
  select
    _start_subflow_tasks.run_id, _start_subflow_tasks.step.step_slug, e.pos::int - 1,
    _start_subflow_tasks.step.flow_slug,
    case when e.pos - 1 = v_refused then 'failed' else 'started' end,
    1,
    case when _start_subflow_tasks.step.step_type = 'map' then e.element end,
    case when e.pos - 1 = v_refused then pgflow._clip(v_error) end,
    _start_subflow_tasks.now, _start_subflow_tasks.now, _start_subflow_tasks.now,
    _start_subflow_tasks.now + pgflow._seconds(_start_subflow_tasks.step.timeout),
    case when e.pos - 1 = v_refused then _start_subflow_tasks.now end,
    v_priority
  from pg_catalog.jsonb_array_elements(_start_subflow_tasks.inputs) with ordinality as e (element, pos);

  if v_refused is not null then
    return pgflow._exhaust_step(
      _start_subflow_tasks.run_id, _start_subflow_tasks.step.step_slug,
      pgflow._clip(pg_catalog.format(
        'step %L failed at attempt 1, not to be retried: task %s could not start a run of flow %L: %s',
        _start_subflow_tasks.step.step_slug, v_refused, _start_subflow_tasks.step.subflow_slug, v_error
      )),
      _start_subflow_tasks.now
    );
  end if;
  return '{}'::text[];
end;
$$;

-- Called by _retry_subflow_task, _resume_subflow_tasks and get_task_input: the input of a task, as _start_step and
-- poll_for_tasks build it: a map task's element, else the run input (a root step) or the object of its completed
-- dependencies' outputs.
create or replace function pgflow._subflow_task_input(run_id uuid, step_slug text, task_index int)
returns jsonb
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select case
    when s.step_type = 'map' then t.input
    when s.deps_count = 0 then r.input
    else (
      select coalesce(pg_catalog.jsonb_object_agg(d.dep_slug, dep.output), '{}'::jsonb)
      from pgflow.deps as d
      cross join lateral (
        select ss.output
        from pgflow.step_states as ss
        where ss.run_id = r.run_id and ss.step_slug = d.dep_slug and ss.status = 'completed'
        limit 1
      ) as dep
      where d.flow_slug = s.flow_slug and d.flow_version = s.flow_version and d.step_slug = s.step_slug
    )
  end
  from pgflow.runs as r
  inner join pgflow.steps as s
    on s.flow_slug = r.flow_slug and s.flow_version = r.flow_version and s.step_slug = _subflow_task_input.step_slug
  inner join pgflow.step_tasks as t
    on t.run_id = r.run_id and t.step_slug = s.step_slug and t.task_index = _subflow_task_input.task_index
  where r.run_id = _subflow_task_input.run_id
$$;

-- Called by _fail_attempt for a failed attempt of a sub-flow task that has attempts left, holding the run's, the
-- step's and the task's rows: the next attempt starts at once, with a new child run (the task stays engine-held,
-- never queued). Returns null, or the message of PF005 when the child flow refused the input (nothing changed:
-- the caller then fails the task without retry).
create or replace function pgflow._retry_subflow_task(
  run_id uuid, step_slug text, task_index int, attempt int, error text, now timestamptz
)
returns text
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
declare
  v_step record;
  v_error text;
begin
  select s.subflow_slug, s.timeout, r.priority into v_step
  from pgflow.runs as r
  inner join pgflow.steps as s
    on s.flow_slug = r.flow_slug and s.flow_version = r.flow_version and s.step_slug = _retry_subflow_task.step_slug
  where r.run_id = _retry_subflow_task.run_id;

  begin
    perform pgflow._start_child(
      v_step.subflow_slug,
      pgflow._subflow_task_input(_retry_subflow_task.run_id, _retry_subflow_task.step_slug, _retry_subflow_task.task_index),
      v_step.priority, _retry_subflow_task.run_id, _retry_subflow_task.step_slug, _retry_subflow_task.task_index,
      _retry_subflow_task.attempt + 1
    );
  exception
    when sqlstate 'PF005' then
      get stacked diagnostics v_error = message_text;
      return pg_catalog.format(
        '%s; the next attempt could not start a run of flow %L: %s', _retry_subflow_task.error, v_step.subflow_slug,
        v_error
      );
  end;

  update pgflow.step_tasks as t
  set
    attempt = t.attempt + 1, error = pgflow._clip(_retry_subflow_task.error), started_at = _retry_subflow_task.now,
    deadline = _retry_subflow_task.now + pgflow._seconds(v_step.timeout)
  where t.run_id = _retry_subflow_task.run_id and t.step_slug = _retry_subflow_task.step_slug
    and t.task_index = _retry_subflow_task.task_index and t.attempt = _retry_subflow_task.attempt;
  return null;
end;
$$;

-- Called by the parent side (_close_subflows, _skip_step's hook, _cancel_task_child), holding the parent run's row:
-- cancels one started child run (and, through its _close_run, its own children). The parent cancelled it, so the
-- child is settled at once: its end is nothing its parent task has to take. Returns whether it was started.
create or replace function pgflow._cancel_child(child_run_id uuid, reason text, now timestamptz)
returns boolean
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
begin
  update pgflow.runs as r
  set
    status = 'cancelled', error = pgflow._clip(_cancel_child.reason), finished_at = _cancel_child.now,
    parent_settled_at = _cancel_child.now
  where r.run_id = _cancel_child.child_run_id and r.finished_at is null;
  if not found then
    return false;
  end if;
  perform pgflow._close_run(_cancel_child.child_run_id, 'cancelled', _cancel_child.now);
  return true;
end;
$$;

-- Called by _close_subflows and _skip_step, holding the parent run's row: cancels the unfinished child runs of a run
-- (of one of its steps when step_slug is given), waiting for their rows (downwards: see LOCK ORDER above).
create or replace function pgflow._cancel_children(run_id uuid, step_slug text, reason text, now timestamptz)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
declare
  v_child uuid;
begin
  for v_child in
    select r.run_id
    from pgflow.runs as r
    where r.parent_run_id = _cancel_children.run_id
      and (_cancel_children.step_slug is null or r.parent_step_slug = _cancel_children.step_slug)
      and r.finished_at is null
    order by r.run_id
    for no key update
  loop
    perform pgflow._cancel_child(v_child, _cancel_children.reason, _cancel_children.now);
  end loop;
end;
$$;

-- Called by _fail_attempt for a sub-flow task's attempt that fails while its child may still run (fail_task on it,
-- its timeout): that child is cancelled. wait as for _fail_attempt: false never waits, and returns false when the
-- child's row is busy (the attempt is then left for a later pass); else true.
create or replace function pgflow._cancel_task_child(
  run_id uuid, step_slug text, task_index int, attempt int, wait boolean, now timestamptz
)
returns boolean
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
declare
  v_child uuid;
  v_reason text := pg_catalog.format(
    'cancelled: attempt %s of task %s of step %L in run %s, which this run was started for, ended',
    _cancel_task_child.attempt, _cancel_task_child.task_index, _cancel_task_child.step_slug, _cancel_task_child.run_id
  );
begin
  if _cancel_task_child.wait then
    for v_child in
      select r.run_id
      from pgflow.runs as r
      where r.parent_run_id = _cancel_task_child.run_id and r.parent_step_slug = _cancel_task_child.step_slug
        and r.parent_task_index = _cancel_task_child.task_index and r.parent_attempt = _cancel_task_child.attempt
        and r.finished_at is null
      for no key update
    loop
      perform pgflow._cancel_child(v_child, v_reason, _cancel_task_child.now);
    end loop;
    return true;
  end if;

  for v_child in
    select r.run_id
    from pgflow.runs as r
    where r.parent_run_id = _cancel_task_child.run_id and r.parent_step_slug = _cancel_task_child.step_slug
      and r.parent_task_index = _cancel_task_child.task_index and r.parent_attempt = _cancel_task_child.attempt
      and r.finished_at is null
  loop
    perform from pgflow.runs as r where r.run_id = v_child and r.finished_at is null for no key update skip locked;
    if not found then
      if exists (select from pgflow.runs as r where r.run_id = v_child and r.finished_at is null) then
        return false;
      end if;
      continue;
    end if;
    perform pgflow._cancel_child(v_child, v_reason, _cancel_task_child.now);
  end loop;
  return true;
end;
$$;

-- Called by _close_run (a run that ended failed or cancelled, holding its row): its unfinished child runs are
-- cancelled, and, when it is itself a child run not cancelled by its parent, its parent task takes its end
-- (_settle_child).
create or replace function pgflow._close_subflows(run_id uuid, status text, now timestamptz)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
declare
  v_parent uuid;
begin
  perform pgflow._cancel_children(
    _close_subflows.run_id, null,
    pg_catalog.format('cancelled because its parent run %s %s', _close_subflows.run_id, _close_subflows.status),
    _close_subflows.now
  );
  select r.parent_run_id into v_parent
  from pgflow.runs as r
  where r.run_id = _close_subflows.run_id and r.parent_settled_at is null;
  if v_parent is not null then
    perform pgflow._settle_child(_close_subflows.run_id, _close_subflows.now);
  end if;
end;
$$;

-- Called by _settle_child as a child run ends (wait => true): the parent run's row, locked, waiting for it a moment
-- (200 ms, or less than half of deadlock_timeout when that is shorter) and not longer. A parent busy for a moment is
-- the common case (the cascade of a sibling child that ended at the same time) and is waited out, so that the
-- parent takes this child's end in this transaction, with no poll needed (a flow of waits and sub-flows alone may
-- have no worker polling). A parent busy for longer may be a parent side waiting for this child's row (cancel_run
-- of the parent): the wait ends before PostgreSQL would call it a deadlock, and the child is left for a poll or
-- expire_tasks(). Returns the parent's status, or null when it was not locked (busy, or gone).
create or replace function pgflow._lock_parent_run(parent_run_id uuid)
returns text
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_previous text := pg_catalog.current_setting('lock_timeout');
  v_deadlock_ms numeric := extract(epoch from pg_catalog.current_setting('deadlock_timeout')::interval) * 1000;
  v_status text;
begin
  perform pg_catalog.set_config(
    'lock_timeout', greatest(1, least(200, pg_catalog.floor(v_deadlock_ms / 2)))::text || 'ms',
    true
  );
  begin
    select r.status into v_status
    from pgflow.runs as r
    where r.run_id = _lock_parent_run.parent_run_id
    for no key update;
  exception
    when lock_not_available then
      v_status := null;
  end;
  perform pg_catalog.set_config('lock_timeout', v_previous, true);
  return v_status;
end;
$$;

-- Called when a child run has ended, holding its row (_complete_runs, _close_subflows, _settle_children): its parent
-- task takes its result, if that task is still waiting for it (started, engine-held, at the child's parent_attempt,
-- its step and run started): completed -> the task completes with the child's output (_complete_reports: the
-- parent's cascade runs); failed or cancelled -> the attempt fails (_fail_attempt: retried with a new child, or
-- exhausted). The parent's rows are taken with SKIP LOCKED (LOCK ORDER above). Returns true when the result was
-- taken or found obsolete (parent_settled_at is set), false when the parent's rows were busy or its task is not
-- ready for this child yet (parent_settled_at is left null: a poll settles it).
create or replace function pgflow._settle_child(child_run_id uuid, now timestamptz, wait boolean default true)
returns boolean
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
declare
  v_child pgflow.runs;
  v_run_status text;
  v_step_status text;
  v_task_status text;
  v_task_attempt int;
  v_task_worker text;
begin
  select r.* into v_child from pgflow.runs as r where r.run_id = _settle_child.child_run_id;
  if v_child.parent_run_id is null or v_child.finished_at is null then
    return true;
  end if;

  if _settle_child.wait then
    v_run_status := pgflow._lock_parent_run(v_child.parent_run_id);
  else
    select r.status into v_run_status
    from pgflow.runs as r
    where r.run_id = v_child.parent_run_id
    for no key update skip locked;
  end if;
  if v_run_status is not null then
    select ss.status into v_step_status
    from pgflow.step_states as ss
    where ss.run_id = v_child.parent_run_id and ss.step_slug = v_child.parent_step_slug
    for no key update skip locked;
    if found then
      select t.status, t.attempt, t.worker_id into v_task_status, v_task_attempt, v_task_worker
      from pgflow.step_tasks as t
      where t.run_id = v_child.parent_run_id and t.step_slug = v_child.parent_step_slug
        and t.task_index = v_child.parent_task_index
      for no key update skip locked;
    end if;
  end if;

  if v_task_attempt is null or v_task_attempt < v_child.parent_attempt then
    -- busy, or not ready for this child yet; a parent run that is gone (pruned) has nothing to take it
    if not exists (select from pgflow.runs as r where r.run_id = v_child.parent_run_id) then
      update pgflow.runs as r set parent_settled_at = _settle_child.now where r.run_id = v_child.run_id;
      return true;
    end if;
    update pgflow.runs as r
    set parent_settled_at = null
    where r.run_id = v_child.run_id and r.parent_settled_at is not null;
    return false;
  end if;

  if v_run_status = 'started' and v_step_status = 'started' and v_task_status = 'started'
     and v_task_attempt = v_child.parent_attempt and v_task_worker is null then
    if v_child.status = 'completed' then
      perform pgflow._complete_reports(
        array[v_child.parent_run_id], array[v_child.parent_step_slug], array[v_child.parent_task_index],
        array[v_child.output], array[v_child.parent_attempt], _settle_child.now, 'sub-flow settlement'
      );
    else
      perform pgflow._fail_attempt(
        v_child.parent_run_id, v_child.parent_step_slug, v_child.parent_task_index,
        case
          when v_child.status = 'failed' then pg_catalog.format(
            'child run %s of flow %L failed: %s', v_child.run_id, v_child.flow_slug, v_child.error
          )
          else pg_catalog.format(
            'child run %s of flow %L was cancelled%s', v_child.run_id, v_child.flow_slug,
            coalesce(': ' || v_child.error, '')
          )
        end,
        v_child.parent_attempt, _settle_child.now,
        wait => false
      );
    end if;
  end if;
  update pgflow.runs as r set parent_settled_at = _settle_child.now where r.run_id = v_child.run_id;
  return true;
end;
$$;

-- Called by _poll_for_tasks when a probe of runs_to_settle finds finished child runs whose parent task has not taken
-- their result (its rows were busy when they ended): settles up to 100 of them, oldest first, each child's row and
-- its parent's taken with SKIP LOCKED (busy ones are left for the next poll). Returns how many it settled.
create or replace function pgflow._settle_children(now timestamptz)
returns int
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
declare
  v_child uuid;
  v_settled int := 0;
  v_error text;
  v_sqlstate text;
begin
  for v_child in
    select r.run_id
    from pgflow.runs as r
    where r.parent_run_id is not null and r.finished_at is not null and r.parent_settled_at is null
    order by r.finished_at
    limit 100
  loop
    -- each child in a block of its own: an unforeseen error is a WARNING, and that child is left for later
    begin
      perform from pgflow.runs as r
      where r.run_id = v_child and r.parent_settled_at is null
      for no key update skip locked;
      if found and pgflow._settle_child(v_child, _settle_children.now, wait => false) then
        v_settled := v_settled + 1;
      end if;
    exception
      when others then
        get stacked diagnostics v_error = message_text, v_sqlstate = returned_sqlstate;
        raise warning 'pgflow: settling child run % failed (%): %', v_child, v_sqlstate, v_error;
    end;
  end loop;
  return v_settled;
end;
$$;

-- Called by resume_run, holding the run's rows, after its failed and cancelled tasks were queued again and the run
-- is started, with the unfinished sub-flow steps it re-opened (step_slugs): their queued tasks become engine-held
-- again (attempt + 1, started now, deadline from now), each resuming its latest child run when that one failed or
-- was cancelled (the same run id, now for the new attempt), else starting a new one (the latest is gone or
-- completed). A new child's input refused fails the task without retry (when_exhausted applies).
create or replace function pgflow._resume_subflow_tasks(run_id uuid, step_slugs text[], now timestamptz)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
declare
  v_task record;
  v_child pgflow.runs;
  v_error text;
  v_skipped text[];
begin
  for v_task in
    select t.step_slug, t.task_index, t.attempt, s.subflow_slug, s.timeout, t.priority
    from pgflow.step_tasks as t
    inner join pgflow.step_states as ss on ss.run_id = t.run_id and ss.step_slug = t.step_slug
    inner join pgflow.steps as s
      on s.flow_slug = ss.flow_slug and s.flow_version = ss.flow_version and s.step_slug = ss.step_slug
    where t.run_id = _resume_subflow_tasks.run_id and t.step_slug = any(_resume_subflow_tasks.step_slugs)
      and t.status = 'queued' and s.subflow_slug is not null
    order by t.step_slug, t.task_index
  loop
    v_error := null;
    select r.* into v_child
    from pgflow.runs as r
    where r.parent_run_id = _resume_subflow_tasks.run_id and r.parent_step_slug = v_task.step_slug
      and r.parent_task_index = v_task.task_index
    order by r.parent_attempt desc, r.started_at desc
    limit 1
    for no key update;

    if found and v_child.status <> 'completed' then
      -- the latest child goes on for the new attempt (resumed when it ended)
      update pgflow.runs as r
      set parent_attempt = v_task.attempt + 1, parent_settled_at = null
      where r.run_id = v_child.run_id;
      if v_child.status in ('failed', 'cancelled') then
        perform pgflow.resume_run(v_child.run_id);
      end if;
    else
      begin
        perform pgflow._start_child(
          v_task.subflow_slug,
          pgflow._subflow_task_input(_resume_subflow_tasks.run_id, v_task.step_slug, v_task.task_index),
          v_task.priority, _resume_subflow_tasks.run_id, v_task.step_slug, v_task.task_index, v_task.attempt + 1
        );
      exception
        when sqlstate 'PF005' then
          get stacked diagnostics v_error = message_text;
      end;
    end if;

    update pgflow.step_tasks as t
    set
      status = case when v_error is null then 'started' else 'failed' end,
      attempt = t.attempt + 1, fair_round = null, started_at = _resume_subflow_tasks.now,
      deadline = _resume_subflow_tasks.now + pgflow._seconds(v_task.timeout),
      error = coalesce(pgflow._clip(v_error), t.error),
      finished_at = case when v_error is not null then _resume_subflow_tasks.now end
    where t.run_id = _resume_subflow_tasks.run_id and t.step_slug = v_task.step_slug
      and t.task_index = v_task.task_index;

    if v_error is not null then
      v_skipped := pgflow._exhaust_step(
        _resume_subflow_tasks.run_id, v_task.step_slug,
        pgflow._clip(pg_catalog.format(
          'step %L failed at attempt %s, not to be retried: task %s could not start a run of flow %L: %s',
          v_task.step_slug, v_task.attempt + 1, v_task.task_index, v_task.subflow_slug, v_error
        )),
        _resume_subflow_tasks.now
      );
      if v_skipped is null then
        return;
      end if;
      perform pgflow._advance(
        pg_catalog.array_fill(_resume_subflow_tasks.run_id, array[pg_catalog.cardinality(v_skipped)]), v_skipped,
        '{}', '{}', _resume_subflow_tasks.now
      );
    end if;
  end loop;
end;
$$;

-- Called by _expire_attempt for an engine-held task past its deadline: the error of a sub-flow task's attempt that
-- timed out (its child run is then cancelled by _fail_attempt), or null when the task is not a sub-flow task's.
create or replace function pgflow._subflow_timeout_error(run_id uuid, step_slug text, task_index int, attempt int)
returns text
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.format(
    'attempt %s timed out: its child run%s of flow %L did not finish within the step''s timeout of %s s, and was '
    'cancelled',
    _subflow_timeout_error.attempt, coalesce(' ' || (
      select c.run_id::text
      from pgflow.runs as c
      where c.parent_run_id = _subflow_timeout_error.run_id and c.parent_step_slug = _subflow_timeout_error.step_slug
        and c.parent_task_index = _subflow_timeout_error.task_index
        and c.parent_attempt = _subflow_timeout_error.attempt
      limit 1
    ), ''),
    s.subflow_slug, s.timeout
  )
  from pgflow.runs as r
  inner join pgflow.steps as s
    on s.flow_slug = r.flow_slug and s.flow_version = r.flow_version and s.step_slug = _subflow_timeout_error.step_slug
  where r.run_id = _subflow_timeout_error.run_id and s.subflow_slug is not null
$$;
