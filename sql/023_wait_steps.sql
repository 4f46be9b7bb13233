-- Wait steps and signals: a step {"type": "wait"} has no handler and no task for workers. When it becomes ready
-- (its dependencies finished, its condition met) it waits for pgflow.signal(run_id, step_slug, payload): the
-- payload becomes its output and the cascade goes on in the signal's transaction. A signal that arrives while the
-- step is still created is kept (step_states.signal, signalled_at) and applied when the step becomes ready.
--
-- The waiting is a task held by the engine (001_schema.sql): task 0 of the step, created started, with no
-- worker_id, never queued, so no poll can ever claim it; its deadline is the step's own timeout counted from when
-- the step became ready (null: it waits for ever; the flow's timeout never applies). The poll-driven expiry
-- finds a passed deadline like any other (_expire_tasks), and _expire_attempt hands it to _expire_wait: the step
-- fails without retry and its when_exhausted applies.
--
-- Called from: _normalize_steps / _normalize_step (010, the options a wait step takes), _start_step (020, a
-- ready wait step), _expire_attempt (030), resume_run (040), get_run_status (050). Lock order: 020_cascade.sql.

-- The keys a wait step may have, in one place: every other step key means nothing for a step that only waits
-- (no retries, no delays, no workers to control).
create or replace function pgflow._wait_step_keys()
returns text[]
language sql
immutable
parallel safe
as $$
  select array['slug', 'type', 'depends_on', 'timeout', 'if', 'if_not', 'when_unmet', 'when_exhausted']
$$;

-- Called by _normalize_steps and _normalize_step for a step of type "wait": what is wrong with it as the end of
-- a PF001 message (the options it has, with a value, that a wait step does not take), or null when nothing is.
create or replace function pgflow._wait_step_error(step jsonb)
returns text
language sql
immutable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.format(
    'option(s) %s mean nothing for a wait step, which is never retried, delayed or run by a worker: a wait step '
    'takes only %s',
    pg_catalog.string_agg(k.key, ', ' order by k.key),
    pg_catalog.array_to_string(pgflow._wait_step_keys(), ', ')
  )
  from pg_catalog.jsonb_each(_wait_step_error.step) as k (key, value)
  where k.value <> 'null'::jsonb and not (k.key = any(pgflow._wait_step_keys()))
  having pg_catalog.count(*) > 0
$$;

-- Called by _start_step, holding the run's row, for a ready wait step whose condition is met: the step starts
-- with one task held by the engine (see the top of this file). When a signal arrived before, the step completes
-- at once with its payload: returns the slug as finished at once (as an empty map does), else no slug.
create or replace function pgflow._start_wait(run_id uuid, step_slug text, now timestamptz)
returns text[]
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
declare
  v_wait record;
begin
  select ss.flow_slug, ss.signal, ss.signalled_at, s.timeout, r.priority into v_wait
  from pgflow.step_states as ss
  inner join pgflow.runs as r on r.run_id = ss.run_id
  inner join pgflow.steps as s
    on s.flow_slug = ss.flow_slug and s.flow_version = ss.flow_version and s.step_slug = ss.step_slug
  where ss.run_id = _start_wait.run_id and ss.step_slug = _start_wait.step_slug;

  if v_wait.signalled_at is not null then
    -- the signal came first: the step and its task complete now, with the payload as output
    update pgflow.step_states as ss
    set
      status = 'completed', remaining_tasks = 0, initial_tasks = 1, output = v_wait.signal,
      output_size = pgflow._json_size(v_wait.signal), started_at = _start_wait.now, finished_at = _start_wait.now
    where ss.run_id = _start_wait.run_id and ss.step_slug = _start_wait.step_slug;
    insert into pgflow.step_tasks (
      run_id, step_slug, task_index, flow_slug, status, attempt, output, visible_at, queued_at, started_at,
      finished_at, priority
    )
    values (
      _start_wait.run_id, _start_wait.step_slug, 0, v_wait.flow_slug, 'completed', 1, v_wait.signal,
      _start_wait.now, _start_wait.now, _start_wait.now, _start_wait.now, v_wait.priority
    );
    return array[_start_wait.step_slug];
  end if;

  update pgflow.step_states as ss
  set status = 'started', remaining_tasks = 1, initial_tasks = 1, started_at = _start_wait.now
  where ss.run_id = _start_wait.run_id and ss.step_slug = _start_wait.step_slug;
  insert into pgflow.step_tasks (
    run_id, step_slug, task_index, flow_slug, status, attempt, visible_at, queued_at, started_at, deadline, priority
  )
  values (
    _start_wait.run_id, _start_wait.step_slug, 0, v_wait.flow_slug, 'started', 1, _start_wait.now, _start_wait.now,
    _start_wait.now, _start_wait.now + pgflow._seconds(v_wait.timeout), v_wait.priority
  );
  return '{}'::text[];
end;
$$;

-- Called by _expire_attempt: whether the task's step is a wait step (its deadline is then _expire_wait's).
create or replace function pgflow._is_wait_step(run_id uuid, step_slug text)
returns boolean
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select coalesce((
    select s.step_type = 'wait'
    from pgflow.step_states as ss
    inner join pgflow.steps as s
      on s.flow_slug = ss.flow_slug and s.flow_version = ss.flow_version and s.step_slug = ss.step_slug
    where ss.run_id = _is_wait_step.run_id and ss.step_slug = _is_wait_step.step_slug
  ), false)
$$;

-- Called by _expire_attempt for a wait step's task past its deadline: the wait ends without a signal. The task
-- fails, and so does the step, without retry (_fail_attempt with retry => false: its when_exhausted applies, and the
-- run's error reads "step 'approval' failed after 1 attempt(s): no signal within the timeout of 600 s"). wait as for
-- _fail_attempt. Returns whether the expiry was recorded.
create or replace function pgflow._expire_wait(
  run_id uuid, step_slug text, task_index int, attempt int, now timestamptz, wait boolean
)
returns boolean
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
declare
  v_timeout numeric;
begin
  select s.timeout into v_timeout
  from pgflow.step_states as ss
  inner join pgflow.steps as s
    on s.flow_slug = ss.flow_slug and s.flow_version = ss.flow_version and s.step_slug = ss.step_slug
  where ss.run_id = _expire_wait.run_id and ss.step_slug = _expire_wait.step_slug;
  return pgflow._fail_attempt(
    _expire_wait.run_id, _expire_wait.step_slug, _expire_wait.task_index,
    pg_catalog.format('no signal within the timeout of %s s', pg_catalog.trim_scale(v_timeout)),
    _expire_wait.attempt, _expire_wait.now,
    wait => _expire_wait.wait, retry => false
  );
end;
$$;

-- Called by resume_run, holding the rows of the run and of its steps, once the run is started again, with the
-- unfinished wait steps it re-opened (step_slugs): resume_run queued their tasks with the others; those are held
-- by the engine again instead (waiting anew, the deadline counted from now, the next attempt). A wait step that
-- has a signal kept completes with it at once.
create or replace function pgflow._resume_waits(run_id uuid, step_slugs text[], now timestamptz)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
declare
  v_signalled record;
begin
  update pgflow.step_tasks as t
  set
    status = 'started', attempt = t.attempts_base + 1, started_at = _resume_waits.now, visible_at = _resume_waits.now,
    deadline = _resume_waits.now + pgflow._seconds(s.timeout), worker_id = null, fair_round = null, flow_key = null
  from pgflow.step_states as ss, pgflow.steps as s
  where t.run_id = _resume_waits.run_id and t.step_slug = any(_resume_waits.step_slugs) and t.status = 'queued'
    and ss.run_id = t.run_id and ss.step_slug = t.step_slug
    and s.flow_slug = ss.flow_slug and s.flow_version = ss.flow_version and s.step_slug = ss.step_slug
    and s.step_type = 'wait';

  for v_signalled in
    select t.step_slug, t.attempt, ss.signal
    from pgflow.step_states as ss
    inner join pgflow.step_tasks as t on t.run_id = ss.run_id and t.step_slug = ss.step_slug and t.task_index = 0
    where ss.run_id = _resume_waits.run_id and ss.step_slug = any(_resume_waits.step_slugs) and ss.status = 'started'
      and ss.signalled_at is not null
      and t.status = 'started'
    order by t.step_slug
  loop
    perform pgflow._complete_reports(
      array[_resume_waits.run_id], array[v_signalled.step_slug], array[0], array[v_signalled.signal],
      array[v_signalled.attempt], _resume_waits.now, 'resume_run'
    );
  end loop;
end;
$$;

-- Called by get_run_status for each wait step: the keys it adds to the step's entry. A started wait step is
-- "waiting", since its task started (waiting_since), until its deadline (null: none); signalled_at is when its
-- signal arrived (null: none yet).
create or replace function pgflow._wait_status(run_id uuid, step_slug text, status text)
returns jsonb
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.jsonb_build_object(
    'status', case when _wait_status.status = 'started' then 'waiting' else _wait_status.status end,
    'waiting_since', case when _wait_status.status = 'started' then t.started_at end,
    'deadline', case when _wait_status.status = 'started' then t.deadline end,
    'signalled_at', ss.signalled_at
  )
  from pgflow.step_states as ss
  left join pgflow.step_tasks as t on t.run_id = ss.run_id and t.step_slug = ss.step_slug and t.task_index = 0
  where ss.run_id = _wait_status.run_id and ss.step_slug = _wait_status.step_slug
$$;

-- Called by webhooks, operators and clients (Client.signal, `pgflow signal`): the outside world says a wait step
-- may go on.
--
-- Locks (020_cascade.sql): a waiting (started) step's row is the row of a step a report is about, taken first,
-- then the run's; a created step's row is a dependent's, taken after the run's (a cascade holding the run's row
-- may be about to start it). A signal to a run that is not started is refused before any step's row is taken.
create or replace function pgflow.signal(run_id uuid, step_slug text, payload jsonb default 'null')
returns boolean
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
declare
  v_now timestamptz := pgflow.now();
  v_payload jsonb := coalesce(signal.payload, 'null'::jsonb);
  v_size bigint := pgflow._json_size(coalesce(signal.payload, 'null'::jsonb));
  v_run record;
  v_step_type text;
  v_run_status text;
  v_state record;
  v_task record;
begin
  perform pgflow._check_not_null('signal', 'run_id', signal.run_id is null);
  perform pgflow._check_not_null('signal', 'step_slug', signal.step_slug is null);
  if v_size > pgflow.max_output_size() then
    raise exception using
      errcode = 'PF005',
      message = pg_catalog.format(
        'signal: payload is %s bytes, more than the limit of %s bytes (pgflow.max_output_size())',
        v_size, pgflow.max_output_size()
      );
  end if;

  select r.status, r.flow_slug, r.flow_version into v_run from pgflow.runs as r where r.run_id = signal.run_id;
  if not found then
    raise exception using
      errcode = 'PF006',
      message = pg_catalog.format('signal: run %s does not exist', signal.run_id);
  end if;
  select case when s.subflow_slug is not null then 'sub-flow' else s.step_type end into v_step_type
  from pgflow.steps as s
  where s.flow_slug = v_run.flow_slug and s.flow_version = v_run.flow_version and s.step_slug = signal.step_slug;
  if not found then
    raise exception using
      errcode = 'PF008',
      message = pg_catalog.format(
        'signal: run %s (flow %L version %s) has no step %s', signal.run_id, v_run.flow_slug, v_run.flow_version,
        pgflow._shown(signal.step_slug)
      );
  end if;
  if v_step_type <> 'wait' then
    raise exception using
      errcode = 'PF008',
      message = pg_catalog.format(
        'signal: step %L of flow %L is a %s step, not a wait step; only wait steps take signals',
        signal.step_slug, v_run.flow_slug, v_step_type
      );
  end if;

  -- The run's row, then the step's: a signal always finishes its step or keeps a payload for it, and it takes the
  -- rows as a cascade does (run first), whether the step is still created (a cascade holding the run may be
  -- starting it) or already waiting. Two signals for one step thus queue on the run's row, and the second finds the
  -- first's signal. (No worker's report ever holds a wait step's row: complete_task refuses engine-held tasks, and
  -- expiry takes the rows with SKIP LOCKED.) A run that is not started is refused without waiting for its row.
  if v_run.status <> 'started' then
    raise exception using
      errcode = 'PF008',
      message = pg_catalog.format(
        'signal: run %s is %s; only a started run takes signals', signal.run_id, v_run.status
      );
  end if;
  select r.status into v_run_status from pgflow.runs as r where r.run_id = signal.run_id for no key update;
  if v_run_status <> 'started' then
    raise exception using
      errcode = 'PF008',
      message = pg_catalog.format(
        'signal: run %s is %s; only a started run takes signals', signal.run_id, v_run_status
      );
  end if;
  select ss.status, ss.signalled_at into v_state
  from pgflow.step_states as ss
  where ss.run_id = signal.run_id and ss.step_slug = signal.step_slug
  for no key update;

  -- one signal per step, and none once it finished
  if v_state.signalled_at is not null or v_state.status not in ('created', 'started') then
    return false;
  end if;

  if v_state.status = 'created' then
    -- not ready yet: kept, and applied when the step becomes ready (_start_wait)
    update pgflow.step_states as ss
    set signal = v_payload, signalled_at = v_now
    where ss.run_id = signal.run_id and ss.step_slug = signal.step_slug;
    return true;
  end if;

  select t.status, t.attempt, t.deadline into v_task
  from pgflow.step_tasks as t
  where t.run_id = signal.run_id and t.step_slug = signal.step_slug and t.task_index = 0;
  if v_task.status is distinct from 'started' then
    return false;
  end if;
  if v_task.deadline <= v_now then
    -- too late: the wait timed out (a poll had not noticed yet), as the next poll would record it
    perform pgflow._expire_wait(signal.run_id, signal.step_slug, 0, v_task.attempt, v_now, wait => true);
    return false;
  end if;

  update pgflow.step_states as ss
  set signal = v_payload, signalled_at = v_now
  where ss.run_id = signal.run_id and ss.step_slug = signal.step_slug;
  -- the completion of a task, with its cascade (dependents start, the run completes, notifications)
  if not (pgflow._complete_reports(
    array[signal.run_id], array[signal.step_slug], array[0], array[v_payload], array[v_task.attempt], v_now, 'signal'
  ))[1] then
    raise exception using
      errcode = 'PF008',
      message = pg_catalog.format(
        'signal: the wait of step %L in run %s could not be completed', signal.step_slug, signal.run_id
      );
  end if;
  return true;
end;
$$;

comment on function pgflow.signal(uuid, text, jsonb) is
'Signals a wait step of a started run: the payload (any JSON; SQL NULL means JSON null) becomes the step''s '
'output and the cascade goes on in this transaction (dependents start, the run completes). A signal to a step '
'that is not ready yet is kept and applied when it becomes ready. Returns true when the signal was recorded, '
'false when the step already had one, had finished (completed, skipped, failed, cancelled), or its timeout had '
'passed (the step then fails as the next poll would fail it). Errors: PF006 unknown run; PF008 a run that is not '
'started, a step that is not a step of the run''s flow version or not a wait step; PF005 a null run_id or '
'step_slug, a payload over pgflow.max_output_size() bytes.';

-- Called by webhooks and clients (Client.find_run) that know a run by its idempotency key (an order id, say),
-- not by its id.
create or replace function pgflow.find_run(flow_slug text, idempotency_key text)
returns pgflow.runs
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_run pgflow.runs;
begin
  if find_run.flow_slug is null or find_run.flow_slug = '' then
    perform pgflow._bad_argument('find_run', 'flow_slug', 'a flow slug', find_run.flow_slug);
  end if;
  if find_run.idempotency_key is null or find_run.idempotency_key = '' then
    perform pgflow._bad_argument(
      'find_run', 'idempotency_key', 'a text of 1 or more characters', find_run.idempotency_key
    );
  end if;
  select r.* into v_run
  from pgflow.runs as r
  where r.flow_slug = find_run.flow_slug and r.idempotency_key = find_run.idempotency_key;
  if not found then
    raise exception using
      errcode = 'PF006',
      message = pg_catalog.format(
        'no run of flow %s has idempotency key %s', pgflow._shown(find_run.flow_slug),
        pgflow._shown(find_run.idempotency_key)
      );
  end if;
  return v_run;
end;
$$;

comment on function pgflow.find_run(text, text) is
'The run of a flow started with this idempotency key (start_run''s idempotency_key). PF006 when no run has it; '
'PF005 for a null or empty argument.';
