-- The worker protocol, reporting side: complete_task and fail_task.
--
-- Both are fenced: they change a task only while it is started and, when the caller passes the
-- attempt it was given, only while that attempt is the current one. A late report from an attempt
-- that timed out (and may be running again elsewhere) returns false and changes nothing.
-- Locks follow the order of 020_cascade.sql: the reported step's state row, then the run row (only
-- when the step is about to finish), then the task row.

-- Called by workers when a handler returned: records the output and cascades in the same transaction.
create or replace function pgflow.complete_task(
  run_id uuid, step_slug text, task_index int, output jsonb, attempt int default null
)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_now timestamptz := pgflow.now();
  v_output jsonb := coalesce(complete_task.output, 'null'::jsonb);
  v_state record;
  v_run_status text;
  v_last boolean;
begin
  select ss.status, ss.remaining_tasks into v_state
  from pgflow.step_states as ss
  where ss.run_id = complete_task.run_id and ss.step_slug = complete_task.step_slug
  for no key update;
  if not found then
    perform pgflow._check_task_exists(complete_task.run_id, complete_task.step_slug, complete_task.task_index);
  end if;

  -- Only the report that finishes its step locks the run: the others leave it alone.
  v_last := v_state.status = 'started' and v_state.remaining_tasks = 1;
  if v_last then
    select r.status into v_run_status from pgflow.runs as r where r.run_id = complete_task.run_id for no key update;
  else
    select r.status into v_run_status from pgflow.runs as r where r.run_id = complete_task.run_id;
  end if;
  if v_run_status <> 'started' then
    return pgflow._reject_report(complete_task.run_id, complete_task.step_slug, complete_task.task_index, v_now);
  end if;

  update pgflow.step_tasks as t
  set status = 'completed', output = v_output, finished_at = v_now
  where t.run_id = complete_task.run_id
    and t.step_slug = complete_task.step_slug
    and t.task_index = complete_task.task_index
    and t.status = 'started'
    and (complete_task.attempt is null or t.attempt = complete_task.attempt);
  if not found then
    return pgflow._reject_report(complete_task.run_id, complete_task.step_slug, complete_task.task_index, v_now);
  end if;

  if v_last then
    perform pgflow._complete_step(complete_task.run_id, complete_task.step_slug, v_output, v_now);
  else
    update pgflow.step_states as ss
    set remaining_tasks = ss.remaining_tasks - 1
    where ss.run_id = complete_task.run_id and ss.step_slug = complete_task.step_slug;
  end if;
  return true;
end;
$$;

comment on function pgflow.complete_task(uuid, text, int, jsonb, int) is
'Records the output of a started task and cascades: the step completes with its last task, dependents start, '
'the run completes when nothing is left. Returns false, changing nothing, for a task that is not started, a '
'stale attempt or a run that is no longer started. PF007 when the task does not exist.';

-- Called by fail_task and by expiry: one failed attempt, retried after the retry delay while attempts
-- are left, else the step's when_exhausted applies. Returns whether the failure was recorded.
--
-- With wait => false (expiry, which handles several tasks in one transaction) it never waits: it takes
-- the run row first, then the step's and the task's, all with SKIP LOCKED, and leaves a busy task for
-- a later pass. A transaction that already holds rows of other tasks must not wait, or it could close
-- a cycle of waits; holding the run row also keeps a cancel or failure of the run from starting while
-- this holds the step's row.
create or replace function pgflow._fail_attempt(
  run_id uuid, step_slug text, task_index int, error text, attempt int, now timestamptz, wait boolean default true
)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_state record;
  v_task record;
  v_step record;
  v_run_status text;
  v_failed int;
  v_delay numeric;
  v_message text;
begin
  if _fail_attempt.wait then
    select ss.flow_slug, ss.flow_version into v_state
    from pgflow.step_states as ss
    where ss.run_id = _fail_attempt.run_id and ss.step_slug = _fail_attempt.step_slug
    for no key update;
    if not found then
      perform pgflow._check_task_exists(_fail_attempt.run_id, _fail_attempt.step_slug, _fail_attempt.task_index);
    end if;
    select r.status into v_run_status from pgflow.runs as r where r.run_id = _fail_attempt.run_id;
  else
    select r.status into v_run_status
    from pgflow.runs as r
    where r.run_id = _fail_attempt.run_id
    for no key update skip locked;
    if not found then
      return false;
    end if;
    select ss.flow_slug, ss.flow_version into v_state
    from pgflow.step_states as ss
    where ss.run_id = _fail_attempt.run_id and ss.step_slug = _fail_attempt.step_slug
    for no key update skip locked;
    if not found then
      return false;
    end if;
  end if;

  if v_run_status <> 'started' then
    return pgflow._reject_report(
      _fail_attempt.run_id, _fail_attempt.step_slug, _fail_attempt.task_index, _fail_attempt.now
    );
  end if;

  select t.status, t.attempt, t.attempts_base into v_task
  from pgflow.step_tasks as t
  where t.run_id = _fail_attempt.run_id and t.step_slug = _fail_attempt.step_slug
    and t.task_index = _fail_attempt.task_index;
  if not found then
    perform pgflow._check_task_exists(_fail_attempt.run_id, _fail_attempt.step_slug, _fail_attempt.task_index);
  end if;
  if v_task.status <> 'started' or v_task.attempt <> coalesce(_fail_attempt.attempt, v_task.attempt) then
    return pgflow._reject_report(
      _fail_attempt.run_id, _fail_attempt.step_slug, _fail_attempt.task_index, _fail_attempt.now
    );
  end if;
  if not _fail_attempt.wait then
    perform
    from pgflow.step_tasks as t
    where t.run_id = _fail_attempt.run_id and t.step_slug = _fail_attempt.step_slug
      and t.task_index = _fail_attempt.task_index
    for no key update skip locked;
    if not found then
      return false;
    end if;
  end if;

  select s.max_attempts, s.base_delay, s.max_delay, s.when_exhausted into v_step
  from pgflow.steps as s
  where s.flow_slug = v_state.flow_slug and s.flow_version = v_state.flow_version
    and s.step_slug = _fail_attempt.step_slug;

  v_failed := v_task.attempt - v_task.attempts_base;

  ---------------------------------------------------------------------------------------------------
  -- Attempts left: queue the task again, claimable after the retry delay.
  ---------------------------------------------------------------------------------------------------
  if v_failed < v_step.max_attempts then
    v_delay := pgflow._retry_delay(v_step.base_delay, v_step.max_delay, v_failed);
    update pgflow.step_tasks as t
    set
      status = 'queued',
      error = _fail_attempt.error,
      visible_at = _fail_attempt.now + pgflow._seconds(v_delay),
      worker_id = null,
      deadline = null,
      started_at = null
    where t.run_id = _fail_attempt.run_id and t.step_slug = _fail_attempt.step_slug
      and t.task_index = _fail_attempt.task_index and t.status = 'started' and t.attempt = v_task.attempt;
    if not found then
      return pgflow._reject_report(
        _fail_attempt.run_id, _fail_attempt.step_slug, _fail_attempt.task_index, _fail_attempt.now
      );
    end if;
    if v_delay = 0 then
      perform pgflow._notify_tasks_ready(v_state.flow_slug);
    end if;
    return true;
  end if;

  ---------------------------------------------------------------------------------------------------
  -- Exhausted: the step ends, so the run row is locked (expiry holds it already) before the task.
  ---------------------------------------------------------------------------------------------------
  if _fail_attempt.wait then
    select r.status into v_run_status from pgflow.runs as r where r.run_id = _fail_attempt.run_id for no key update;
    if v_run_status <> 'started' then
      return pgflow._reject_report(
        _fail_attempt.run_id, _fail_attempt.step_slug, _fail_attempt.task_index, _fail_attempt.now
      );
    end if;
  end if;

  update pgflow.step_tasks as t
  set status = 'failed', error = _fail_attempt.error, finished_at = _fail_attempt.now
  where t.run_id = _fail_attempt.run_id and t.step_slug = _fail_attempt.step_slug
    and t.task_index = _fail_attempt.task_index and t.status = 'started' and t.attempt = v_task.attempt;
  if not found then
    return pgflow._reject_report(
      _fail_attempt.run_id, _fail_attempt.step_slug, _fail_attempt.task_index, _fail_attempt.now
    );
  end if;

  v_message := pg_catalog.format(
    'step %L failed after %s attempt(s): %s', _fail_attempt.step_slug, v_failed, _fail_attempt.error
  );
  if v_step.when_exhausted = 'fail' then
    perform pgflow._fail_run(_fail_attempt.run_id, _fail_attempt.step_slug, v_message, _fail_attempt.now);
  else
    perform pgflow._advance_run(
      _fail_attempt.run_id,
      pgflow._skip_step(
        _fail_attempt.run_id, _fail_attempt.step_slug, v_step.when_exhausted = 'skip-cascade', v_message,
        _fail_attempt.now
      ),
      '{}',
      _fail_attempt.now
    );
  end if;
  return true;
end;
$$;

-- Called by workers when a handler raised (or by anything that wants to fail an attempt).
create or replace function pgflow.fail_task(
  run_id uuid, step_slug text, task_index int, error text, attempt int default null
)
returns boolean
language sql
volatile
set search_path = ''
as $$
  select pgflow._fail_attempt(
    fail_task.run_id, fail_task.step_slug, fail_task.task_index, fail_task.error, fail_task.attempt, pgflow.now()
  )
$$;

comment on function pgflow.fail_task(uuid, text, int, text, int) is
'Records a failed attempt: the task is retried after min(max_delay, base_delay * 2^(n-1)) seconds while attempts '
'are left, else the step''s when_exhausted applies (fail, skip, skip-cascade). Fenced like complete_task.';
