-- The worker protocol, reporting side: complete_task and fail_task.
--
-- Both are fenced: they change a task only while it is started and, when the caller passes the
-- attempt it was given, only while that attempt is the current one. A late report from an attempt
-- that timed out (and may be running again elsewhere) returns false and changes nothing. A completion
-- of the current attempt after its deadline is not recorded either: the attempt counts as failed, as
-- the next expiry pass would count it, whether or not a poll came first. fail_task after the deadline
-- records the handler's own error (the attempt fails either way, retried or exhausted alike).
-- Locks follow the order of 020_cascade.sql: the reported step's state row, then the run row (only
-- when the step is about to finish), then the task row.

-- Called by _complete_reports: the parallel arrays of a batch as rows, numbered from 1.
-- Unlike the other functions it has no "set search_path" (its names are all qualified): a SQL function
-- with a SET clause is planned anew at every call and cannot be inlined, which cost more than the rest
-- of a batch; inlined, the planner also sees how many reports there are and looks rows up by key.
create or replace function pgflow._report_rows(
  run_ids uuid[], step_slugs text[], task_indexes int[], outputs jsonb[], attempts int[]
)
returns setof pgflow._report
language sql
immutable
rows 10
as $$
  select u.pos::int, u.run_id, u.step_slug, u.task_index, u.output, u.attempt
  from rows from (
    pg_catalog.unnest(_report_rows.run_ids),
    pg_catalog.unnest(_report_rows.step_slugs),
    pg_catalog.unnest(_report_rows.task_indexes),
    pg_catalog.unnest(_report_rows.outputs),
    pg_catalog.unnest(_report_rows.attempts)
  ) with ordinality as u (run_id, step_slug, task_index, output, attempt, pos)
$$;

-- Called by complete_task and complete_tasks: records a batch of completions and cascades, in one
-- transaction. The arrays are parallel (one report per position); an attempt of null is not checked.
-- Returns, per report: true when recorded, false when not (the task is not started, the attempt is not
-- the current one, the run is no longer started — or the attempt is past its deadline, or the output cannot
-- be stored: see below), null when the task does not exist.
--
-- A report of an attempt whose deadline has passed (by now, after _notice_server_start has credited any
-- outage) is not recorded: the attempt is expired right here, exactly as the next expiry pass would do it
-- (_expire_attempt: "attempt N timed out: no result by its deadline ...", then retried or exhausted), and
-- the other reports of the batch are recorded.
--
-- An output larger than pgflow.max_output_size(), or one that would take its map step's outputs together
-- past it, cannot be stored: that report fails its task at once, without retry, with an error naming the
-- limit, and the step's when_exhausted applies; the other reports of the batch are recorded.
--
-- Locks (020_cascade.sql) level by level for the whole batch: the reported steps' rows in (run_id,
-- step_slug) order; then, in run_id order, the rows of the runs where a step may end in this batch (its
-- reports cover its remaining tasks, or one of them cannot be stored or is past its deadline: FOR NO KEY
-- UPDATE) and of the runs of reports that will be refused (their task is not started at that attempt: FOR
-- SHARE, so that an end of the run in progress is waited for here, in order, and never later); then the tasks.
-- A completion that does not end its step never locks its run.
create or replace function pgflow._complete_reports(
  run_ids uuid[], step_slugs text[], task_indexes int[], outputs jsonb[], attempts int[], now timestamptz,
  function_name text
)
returns boolean[]
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
declare
  v_count int := coalesce(pg_catalog.cardinality(_complete_reports.run_ids), 0);
  v_attempts int[] := coalesce(_complete_reports.attempts, pg_catalog.array_fill(null::int, array[v_count]));
  v_runs uuid[];
  v_finishing uuid[];
  v_started uuid[];
  v_others uuid[];
  v_unstorable int[];
  v_reasons text[];
  v_overdue int[];
  v_overdue_attempts int[];
  v_overdue_deadlines timestamptz[];
  v_guarded uuid[];
  v_locked uuid[] := '{}'::uuid[];
  v_lock record;
  v_status text;
  v_recorded int[];
  v_finished_runs uuid[];
  v_finished_steps text[];
  v_report record;
  v_results boolean[];
  v_outputs jsonb[];
  v_pos int;
begin
  perform pgflow._check_list(_complete_reports.function_name, 'run_ids', _complete_reports.run_ids);
  perform pgflow._check_list(_complete_reports.function_name, 'step_slugs', _complete_reports.step_slugs);
  perform pgflow._check_list(_complete_reports.function_name, 'task_indexes', _complete_reports.task_indexes);
  perform pgflow._check_list(_complete_reports.function_name, 'outputs', _complete_reports.outputs);
  perform pgflow._check_list(_complete_reports.function_name, 'attempts', _complete_reports.attempts);
  if v_count = 0 then
    return '{}'::boolean[];
  end if;
  if coalesce(pg_catalog.cardinality(_complete_reports.step_slugs), 0) <> v_count
     or coalesce(pg_catalog.cardinality(_complete_reports.task_indexes), 0) <> v_count
     or coalesce(pg_catalog.cardinality(_complete_reports.outputs), 0) <> v_count
     or pg_catalog.cardinality(v_attempts) <> v_count then
    raise exception using
      errcode = 'PF005',
      message = pg_catalog.format(
        '%s needs arrays of the same length: run_ids, step_slugs, task_indexes, outputs and attempts (or null '
        'attempts)',
        _complete_reports.function_name
      );
  end if;
  if pg_catalog.array_position(_complete_reports.run_ids, null) is not null then
    perform pgflow._check_not_null(_complete_reports.function_name, 'run_id', true);
  end if;
  if pg_catalog.array_position(_complete_reports.step_slugs, null) is not null then
    perform pgflow._check_not_null(_complete_reports.function_name, 'step_slug', true);
  end if;
  if pg_catalog.array_position(_complete_reports.task_indexes, null) is not null then
    perform pgflow._check_not_null(_complete_reports.function_name, 'task_index', true);
  end if;
  if exists (select from pg_catalog.unnest(v_attempts) as a (attempt) where a.attempt < 1) then
    perform pgflow._bad_argument(
      _complete_reports.function_name, 'attempt', 'null or a positive integer',
      (select pg_catalog.min(a.attempt)::text from pg_catalog.unnest(v_attempts) as a (attempt))
    );
  end if;

  -- A report may be the first call after a restart of the database server: the deadlines are credited with
  -- the outage before they are judged below (an outage never counts against a worker).
  perform pgflow._notice_server_start(_complete_reports.now);

  ---------------------------------------------------------------------------------------------------
  -- 1. The reported steps' rows. Which reports can be stored: each output on its own, and a step's
  --    outputs together (those it has, plus this batch's for its tasks that are started at the reported
  --    attempt and not past their deadline, in batch order). The runs where a step may end: its reports
  --    cover its remaining tasks, or one of them cannot be stored (its task fails without retry) or is past
  --    its deadline (its attempt is expired: retried or exhausted).
  ---------------------------------------------------------------------------------------------------
  with reports as (
    select
      u.pos, u.run_id, u.step_slug, u.task_index, u.attempt,
      pgflow._json_size(_complete_reports.outputs[u.pos]) as size
    from pgflow._report_rows(
      _complete_reports.run_ids, _complete_reports.step_slugs, _complete_reports.task_indexes, null, v_attempts
    ) as u
  ),
  -- (each state by its whole key, locked in (run_id, step_slug) order as the nested loop meets them: looked
  -- up by the pairs in a join, a generic plan made on nearly empty tables hashed every state of the table)
  locked as (
    select ss.run_id, ss.step_slug, ss.flow_slug, ss.status, ss.remaining_tasks, ss.output_size
    from (
      select distinct reports.run_id, reports.step_slug from reports order by reports.run_id, reports.step_slug
    ) as pair
    cross join lateral (
      select s.run_id, s.step_slug, s.flow_slug, s.status, s.remaining_tasks, s.output_size
      from pgflow.step_states as s
      where s.run_id = pair.run_id and s.step_slug = pair.step_slug
      limit 1
      for no key update
    ) as ss
  ),
  started as (
    select
      reports.pos, reports.run_id, reports.step_slug, locked.flow_slug, reports.size, locked.output_size,
      -- (a task held by the engine is judged by its caller: signal, the settling of a child run)
      task.attempt, task.deadline, task.deadline <= _complete_reports.now and task.worker_id is not null as overdue
    from reports
    inner join locked on reports.run_id = locked.run_id and reports.step_slug = locked.step_slug
    cross join lateral (
      select t.attempt, t.deadline, t.worker_id
      from pgflow.step_tasks as t
      where t.run_id = reports.run_id and t.step_slug = reports.step_slug and t.task_index = reports.task_index
        -- started (written as in step 3 below, so that it is looked up by key)
        and t.finished_at is null and t.status <> 'queued'
        and (reports.attempt is null or t.attempt = reports.attempt)
        -- a task held by the engine (a wait step's, a sub-flow step's) takes no worker's report: pgflow.signal
        -- completes a wait, the child run a sub-flow task
        and (t.worker_id is not null or _complete_reports.function_name not in ('complete_task', 'complete_tasks'))
    ) as task
    where locked.status = 'started'
  ),
  -- reports of attempts past their deadline are not recorded: those attempts are expired (step 5)
  overdue as (
    select started.pos, started.run_id, started.attempt, started.deadline from started where started.overdue
  ),
  valid as (
    select
      started.pos, started.run_id, started.step_slug, started.flow_slug, started.size,
      coalesce(started.output_size, 0)
      + pg_catalog.sum(case when started.size <= pgflow.max_output_size() then started.size else 0 end) over (
        partition by started.run_id, started.step_slug order by started.pos rows unbounded preceding
      ) as step_size
    from started
    where not started.overdue
  ),
  unstorable as (
    select
      valid.pos, valid.run_id,
      case
        when valid.size > pgflow.max_output_size() then pg_catalog.format(
          'output of %s.%s is too large to store: %s bytes, more than the limit of %s bytes '
          '(pgflow.max_output_size())',
          valid.flow_slug, valid.step_slug, valid.size, pgflow.max_output_size()
        )
        else pg_catalog.format(
          'output of %s.%s is too large to store: with it the outputs of step %L would add up to %s bytes, '
          'more than the limit of %s bytes (pgflow.max_output_size())',
          valid.flow_slug, valid.step_slug, valid.step_slug, valid.step_size, pgflow.max_output_size()
        )
      end as reason
    from valid
    where valid.size > pgflow.max_output_size() or valid.step_size > pgflow.max_output_size()
  ),
  counts as (
    select reports.run_id, reports.step_slug, pg_catalog.count(*)::int as n
    from reports
    group by reports.run_id, reports.step_slug
  )
  select
    (select pg_catalog.array_agg(distinct locked.run_id) from locked),
    (
      select pg_catalog.array_agg(distinct locked.run_id)
      from locked
      inner join counts on locked.run_id = counts.run_id and locked.step_slug = counts.step_slug
      where (locked.status = 'started' and locked.remaining_tasks <= counts.n)
        or locked.run_id in (select unstorable.run_id from unstorable)
        or locked.run_id in (select overdue.run_id from overdue)
    ),
    (select pg_catalog.array_agg(unstorable.pos order by unstorable.pos) from unstorable),
    (select pg_catalog.array_agg(unstorable.reason order by unstorable.pos) from unstorable),
    (select pg_catalog.array_agg(overdue.pos order by overdue.pos) from overdue),
    (select pg_catalog.array_agg(overdue.attempt order by overdue.pos) from overdue),
    (select pg_catalog.array_agg(overdue.deadline order by overdue.pos) from overdue),
    (
      select pg_catalog.array_agg(distinct reports.run_id)
      from reports
      where not exists (select from valid where valid.pos = reports.pos)
        and not exists (select from overdue where overdue.pos = reports.pos)
    )
  into v_runs, v_finishing, v_unstorable, v_reasons, v_overdue, v_overdue_attempts, v_overdue_deadlines, v_guarded;
  v_unstorable := coalesce(v_unstorable, '{}'::int[]);
  v_overdue := coalesce(v_overdue, '{}'::int[]);
  -- the outputs to store: those that cannot be stored are left out before the batch is read as rows
  -- (reading it copies every output once)
  if pg_catalog.cardinality(v_unstorable) > 0 then
    v_outputs := _complete_reports.outputs;
    foreach v_pos in array v_unstorable loop
      v_outputs[v_pos] := null;
    end loop;
  end if;

  ---------------------------------------------------------------------------------------------------
  -- 2. Which runs are started: read under the lock for the runs where a step may end and the runs of
  --    reports to be refused, as they are for the others.
  ---------------------------------------------------------------------------------------------------
  if v_guarded is not null then
    v_started := '{}'::uuid[];
    for v_lock in
      select l.run_id, pg_catalog.bool_or(l.finishing) as finishing
      from (
        select f.run_id, true as finishing from pg_catalog.unnest(v_finishing) as f (run_id)
        union all
        select g.run_id, false from pg_catalog.unnest(v_guarded) as g (run_id)
      ) as l
      group by l.run_id
      order by l.run_id
    loop
      if v_lock.finishing then
        select r.status into v_status from pgflow.runs as r where r.run_id = v_lock.run_id for no key update;
      else
        select r.status into v_status from pgflow.runs as r where r.run_id = v_lock.run_id for share;
      end if;
      if v_status = 'started' then
        v_started := v_started || v_lock.run_id;
      end if;
      v_locked := v_locked || v_lock.run_id;
    end loop;
  elsif v_finishing is not null then
    select
      pg_catalog.array_agg(locked.run_id) filter (where locked.status = 'started'),
      pg_catalog.array_agg(locked.run_id)
    into v_started, v_locked
    from (
      select r.run_id, r.status
      from pgflow.runs as r
      where r.run_id = any(v_finishing)
      order by r.run_id
      for no key update
    ) as locked;
  end if;
  v_locked := coalesce(v_locked, '{}'::uuid[]);
  if exists (select from pg_catalog.unnest(v_runs) as u (run_id) where not (u.run_id = any(v_locked))) then
    select pg_catalog.array_agg(r.run_id) into v_others
    from pgflow.runs as r
    -- (started, written as not finished: see PLANS at the top of 020_cascade.sql)
    where r.run_id = any(v_runs) and not (r.run_id = any(v_locked)) and r.finished_at is null;
    v_started := coalesce(v_started, '{}'::uuid[]) || coalesce(v_others, '{}'::uuid[]);
  end if;

  ---------------------------------------------------------------------------------------------------
  -- 3. The tasks (started, at the reported attempt, of started steps of started runs; outputs that can be
  --    stored) and their steps, in one statement: completed tasks are counted off their step, with the
  --    size of their outputs; the last one completes it, with its task's output (single) or the array of
  --    its tasks' outputs in task_index order (map, aggregated once, here: the tasks completed before this
  --    statement, and those completed by it).
  ---------------------------------------------------------------------------------------------------
  with reports as (
    select u.*, pgflow._json_size(u.output) as size
    from pgflow._report_rows(
      _complete_reports.run_ids, _complete_reports.step_slugs, _complete_reports.task_indexes,
      coalesce(v_outputs, _complete_reports.outputs), v_attempts
    ) as u
    where u.run_id = any(v_started) and not (u.pos = any(v_unstorable)) and not (u.pos = any(v_overdue))
  ),
  completed as (
    update pgflow.step_tasks as t
    set status = 'completed', output = coalesce(reports.output, 'null'::jsonb), finished_at = _complete_reports.now
    from reports
    where t.run_id = reports.run_id and t.step_slug = reports.step_slug and t.task_index = reports.task_index
      -- started, written as neither queued nor finished (step_tasks_finished_at_matches_status) so that no
      -- partial index on started tasks can serve this statement: between two vacuums those hold an entry
      -- for every task claimed since, and a hash join over one of them (the plan estimates chose on a new
      -- database) walked all those entries for each batch instead of looking its tasks up by key
      and t.finished_at is null and t.status <> 'queued'
      and (reports.attempt is null or t.attempt = reports.attempt)
      and (t.worker_id is not null or _complete_reports.function_name not in ('complete_task', 'complete_tasks'))
      and exists (
        select from pgflow.step_states as ss
        where ss.run_id = t.run_id and ss.step_slug = t.step_slug and ss.status = 'started'
      )
    returning reports.pos, t.run_id, t.step_slug, t.task_index, t.output, reports.size
  ),
  counted as (
    select
      completed.run_id, completed.step_slug, pg_catalog.count(*)::int as n,
      (pg_catalog.array_agg(completed.output))[1] as output, pg_catalog.sum(completed.size)::bigint as size
    from completed
    group by completed.run_id, completed.step_slug
  ),
  stepped as (
    update pgflow.step_states as ss
    set
      remaining_tasks = ss.remaining_tasks - counted.n,
      status = case when ss.remaining_tasks = counted.n then 'completed' else ss.status end,
      finished_at = case when ss.remaining_tasks = counted.n then _complete_reports.now end,
      output_size = coalesce(ss.output_size, 0) + counted.size,
      output = case
        when ss.remaining_tasks <> counted.n then null
        when s.step_type <> 'map' then counted.output
        else (
          select pg_catalog.jsonb_agg(o.output order by o.task_index)
          from (
            select t.task_index, t.output
            from pgflow.step_tasks as t
            where t.run_id = ss.run_id and t.step_slug = ss.step_slug and t.status = 'completed'
            union all
            select c.task_index, c.output
            from completed as c
            where c.run_id = ss.run_id and c.step_slug = ss.step_slug
          ) as o
        )
      end
    from counted, pgflow.steps as s
    where ss.run_id = counted.run_id and ss.step_slug = counted.step_slug
      and s.flow_slug = ss.flow_slug and s.flow_version = ss.flow_version and s.step_slug = ss.step_slug
    returning ss.run_id, ss.step_slug, ss.status
  )
  select
    pg_catalog.array_agg(completed.pos),
    (select pg_catalog.array_agg(st.run_id) from stepped as st where st.status = 'completed'),
    (select pg_catalog.array_agg(st.step_slug) from stepped as st where st.status = 'completed')
  into v_recorded, v_finished_runs, v_finished_steps
  from completed;
  v_recorded := coalesce(v_recorded, '{}'::int[]);

  ---------------------------------------------------------------------------------------------------
  -- 4. The cascade from the steps that completed.
  ---------------------------------------------------------------------------------------------------
  if v_finished_runs is not null then
    perform pgflow._advance(v_finished_runs, v_finished_steps, '{}', '{}', _complete_reports.now);
  end if;

  if pg_catalog.cardinality(v_recorded) = v_count then
    return pg_catalog.array_fill(true, array[v_count]);
  end if;

  ---------------------------------------------------------------------------------------------------
  -- 5. Outputs that cannot be stored fail their tasks, without retry (their runs' rows are held).
  ---------------------------------------------------------------------------------------------------
  for v_report in
    select u.pos, u.run_id, u.step_slug, u.task_index, u.attempt
    from pgflow._report_rows(
      _complete_reports.run_ids, _complete_reports.step_slugs, _complete_reports.task_indexes, null, v_attempts
    ) as u
    where u.pos = any(v_unstorable)
    order by u.pos
  loop
    perform pgflow._fail_attempt(
      v_report.run_id, v_report.step_slug, v_report.task_index,
      v_reasons[pg_catalog.array_position(v_unstorable, v_report.pos)], v_report.attempt, _complete_reports.now,
      retry => false
    );
  end loop;

  ---------------------------------------------------------------------------------------------------
  -- 5b. Reports of attempts past their deadline: the attempt is expired here, as the next expiry pass
  --     would (_expire_attempt: "timed out", retried or exhausted), and the report is not recorded. Their
  --     steps' and runs' rows are held (steps 1 and 2), so this waits for nothing but the task's row.
  ---------------------------------------------------------------------------------------------------
  for v_pos in select o.pos from pg_catalog.unnest(v_overdue) as o (pos) order by o.pos loop
    perform pgflow._expire_attempt(
      _complete_reports.run_ids[v_pos], _complete_reports.step_slugs[v_pos], _complete_reports.task_indexes[v_pos],
      v_overdue_attempts[pg_catalog.array_position(v_overdue, v_pos)],
      v_overdue_deadlines[pg_catalog.array_position(v_overdue, v_pos)], _complete_reports.now, wait => true
    );
  end loop;

  ---------------------------------------------------------------------------------------------------
  -- 6. Refused reports. One of a run with no task recorded in this batch is repaired if its run ended and
  --    the end had to leave its task or step (a run with a task recorded here cannot end before this
  --    commits: ending it waits for that task's row). No end can still be in progress: the run's row was
  --    locked in step 2 (a report refused from the start), or the refusal came from a task that an end
  --    had changed, after waiting for that end's lock on the task's row.
  ---------------------------------------------------------------------------------------------------
  for v_report in
    select u.run_id, u.step_slug, u.task_index
    from pgflow._report_rows(
      _complete_reports.run_ids, _complete_reports.step_slugs, _complete_reports.task_indexes, null, v_attempts
    ) as u
    where not (u.pos = any(v_recorded)) and not (u.pos = any(v_unstorable)) and not (u.pos = any(v_overdue))
      and not exists (
        select
        from pg_catalog.unnest(_complete_reports.run_ids) with ordinality as other (run_id, pos)
        where other.run_id = u.run_id and other.pos::int = any(v_recorded)
      )
      and exists (
        select from pgflow.step_tasks as t
        where t.run_id = u.run_id and t.step_slug = u.step_slug and t.task_index = u.task_index
      )
    order by u.run_id
  loop
    perform pgflow._repair_report(v_report.run_id, v_report.step_slug, v_report.task_index, _complete_reports.now);
  end loop;

  select pg_catalog.array_agg(
    case
      when u.pos = any(v_recorded) then true
      when exists (
        select from pgflow.step_tasks as t
        where t.run_id = u.run_id and t.step_slug = u.step_slug and t.task_index = u.task_index
      ) then false
    end
    order by u.pos
  )
  into v_results
  from pgflow._report_rows(
    _complete_reports.run_ids, _complete_reports.step_slugs, _complete_reports.task_indexes, null, v_attempts
  ) as u;
  return v_results;
end;
$$;

-- Called by workers when a handler returned: records the output and cascades in the same transaction.
create or replace function pgflow.complete_task(
  run_id uuid, step_slug text, task_index int, output jsonb, attempt int default null
)
returns boolean
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_recorded boolean;
begin
  v_recorded := (pgflow._complete_reports(
    array[complete_task.run_id], array[complete_task.step_slug], array[complete_task.task_index],
    array[complete_task.output], array[complete_task.attempt], pgflow.now(), 'complete_task'
  ))[1];
  if v_recorded is null then
    perform pgflow._check_task_exists(complete_task.run_id, complete_task.step_slug, complete_task.task_index);
  end if;
  return v_recorded;
end;
$$;

comment on function pgflow.complete_task(uuid, text, int, jsonb, int) is
'Records the output of a started task and cascades: the step completes with its last task, dependents start, '
'the run completes when nothing is left. Returns false, changing nothing, for a task that is not started, a '
'stale attempt, a run that is no longer started, or a task held by the engine (a wait step''s: see signal; a '
'sub-flow step''s: its child run completes it). An attempt past its deadline (the step''s timeout) is not '
'recorded: it is expired as a poll would expire it (error "attempt N timed out: ...", retried or exhausted) and '
'false is returned. An output over pgflow.max_output_size() fails the task without retry (and returns false). '
'PF007 when the task does not exist; PF005 for null arguments.';

-- Called by workers that report several results at once (the Python worker does): complete_task for a
-- batch, in one transaction, with the same cascade and fencing.
create or replace function pgflow.complete_tasks(
  run_ids uuid[], step_slugs text[], task_indexes int[], outputs jsonb[], attempts int[] default null
)
returns boolean[]
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  return pgflow._complete_reports(
    complete_tasks.run_ids, complete_tasks.step_slugs, complete_tasks.task_indexes, complete_tasks.outputs,
    complete_tasks.attempts, pgflow.now(), 'complete_tasks'
  );
end;
$$;

comment on function pgflow.complete_tasks(uuid[], text[], int[], jsonb[], int[]) is
'complete_task for a batch of reports given as parallel arrays, in one transaction. Returns one element per '
'report: true (recorded), false (refused, as complete_task: an attempt past its deadline is expired, an output '
'too large fails its task) or null (no such task). One report that cannot be recorded never keeps the others '
'from being recorded.';

-- Called by fail_task and by expiry: one failed attempt, retried after the retry delay while attempts
-- are left (and retry is true), else the step's when_exhausted applies. Returns whether the failure was
-- recorded.
--
-- With wait => false (expiry, which handles several tasks in one transaction) it never waits: it takes
-- the run row first, then the step's and the task's, all with SKIP LOCKED, and leaves a busy task for
-- a later pass. A transaction that already holds rows of other tasks must not wait, or it could close
-- a cycle of waits; holding the run row also keeps a cancel or failure of the run from starting while
-- this holds the step's row.
create or replace function pgflow._fail_attempt(
  run_id uuid, step_slug text, task_index int, error text, attempt int, now timestamptz, wait boolean default true,
  retry boolean default true
)
returns boolean
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
declare
  v_state record;
  v_task record;
  v_step record;
  v_run_status text;
  v_failed int;
  v_delay numeric;
  v_message text;
  v_skipped text[];
begin
  if _fail_attempt.wait then
    select ss.flow_slug, ss.flow_version, ss.status into v_state
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
    select ss.flow_slug, ss.flow_version, ss.status into v_state
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

  select t.status, t.attempt, t.attempts_base, t.priority, t.flow_key into v_task
  from pgflow.step_tasks as t
  where t.run_id = _fail_attempt.run_id and t.step_slug = _fail_attempt.step_slug
    and t.task_index = _fail_attempt.task_index;
  if not found then
    perform pgflow._check_task_exists(_fail_attempt.run_id, _fail_attempt.step_slug, _fail_attempt.task_index);
  end if;
  if v_task.status <> 'started' or v_state.status <> 'started'
     or v_task.attempt <> coalesce(_fail_attempt.attempt, v_task.attempt) then
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

  select s.max_attempts, s.base_delay, s.max_delay, s.subflow_slug into v_step
  from pgflow.steps as s
  where s.flow_slug = v_state.flow_slug and s.flow_version = v_state.flow_version
    and s.step_slug = _fail_attempt.step_slug;

  v_failed := v_task.attempt - v_task.attempts_base;

  ---------------------------------------------------------------------------------------------------
  -- A sub-flow task (sql/024_subflows.sql): the attempt's child run, if it still runs, is cancelled; a retry starts
  -- a new child run at once (the task stays engine-held), unless the child flow refuses the input (no retry).
  ---------------------------------------------------------------------------------------------------
  if v_step.subflow_slug is not null then
    if not pgflow._cancel_task_child(
      _fail_attempt.run_id, _fail_attempt.step_slug, _fail_attempt.task_index, v_task.attempt, _fail_attempt.wait,
      _fail_attempt.now
    ) then
      return false;
    end if;
    if _fail_attempt.retry and v_failed < v_step.max_attempts then
      v_message := pgflow._retry_subflow_task(
        _fail_attempt.run_id, _fail_attempt.step_slug, _fail_attempt.task_index, v_task.attempt, _fail_attempt.error,
        _fail_attempt.now
      );
      if v_message is null then
        return true;
      end if;
      _fail_attempt.retry := false;
      _fail_attempt.error := v_message;
    end if;
  end if;

  ---------------------------------------------------------------------------------------------------
  -- Attempts left: queue the task again, claimable after the retry delay.
  ---------------------------------------------------------------------------------------------------
  if _fail_attempt.retry and v_failed < v_step.max_attempts then
    v_delay := pgflow._retry_delay(v_step.base_delay, v_step.max_delay, v_failed);
    update pgflow.step_tasks as t
    set
      status = 'queued',
      error = pgflow._clip(_fail_attempt.error),
      visible_at = _fail_attempt.now + pgflow._seconds(v_delay),
      -- due at once: back in the fair queue at its smallest round; else delayed until the claim makes it due
      fair_round = case when v_delay = 0 then pgflow._fair_round_base(v_task.priority, v_state.flow_slug, v_task.flow_key) end,
      worker_id = null,
      deadline = null,
      started_at = null
    -- (started, written as neither queued nor finished: see PLANS at the top of 020_cascade.sql)
    where t.run_id = _fail_attempt.run_id and t.step_slug = _fail_attempt.step_slug
      and t.task_index = _fail_attempt.task_index and t.finished_at is null and t.status <> 'queued'
      and t.attempt = v_task.attempt;
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
  -- Exhausted (or not to be retried): the step ends, so the run row is locked (expiry holds it already)
  -- before the task.
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
  set status = 'failed', error = pgflow._clip(_fail_attempt.error), finished_at = _fail_attempt.now
  -- (started, written as neither queued nor finished: see PLANS at the top of 020_cascade.sql)
  where t.run_id = _fail_attempt.run_id and t.step_slug = _fail_attempt.step_slug
    and t.task_index = _fail_attempt.task_index and t.finished_at is null and t.status <> 'queued'
    and t.attempt = v_task.attempt;
  if not found then
    return pgflow._reject_report(
      _fail_attempt.run_id, _fail_attempt.step_slug, _fail_attempt.task_index, _fail_attempt.now
    );
  end if;

  v_message := pgflow._clip(case
    when v_failed < v_step.max_attempts then pg_catalog.format(
      'step %L failed at attempt %s, not to be retried: %s', _fail_attempt.step_slug, v_failed, _fail_attempt.error
    )
    else pg_catalog.format(
      'step %L failed after %s attempt(s): %s', _fail_attempt.step_slug, v_failed, _fail_attempt.error
    )
  end);
  v_skipped := pgflow._exhaust_step(_fail_attempt.run_id, _fail_attempt.step_slug, v_message, _fail_attempt.now);
  if v_skipped is not null then
    perform pgflow._advance(
      pg_catalog.array_fill(_fail_attempt.run_id, array[pg_catalog.cardinality(v_skipped)]), v_skipped,
      '{}', '{}', _fail_attempt.now
    );
  end if;
  return true;
end;
$$;

-- Called by workers when a handler raised (or by anything that wants to fail an attempt).
create or replace function pgflow.fail_task(
  run_id uuid, step_slug text, task_index int, error text, attempt int default null, retry boolean default true
)
returns boolean
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_task record;
begin
  perform pgflow._check_not_null('fail_task', 'run_id', fail_task.run_id is null);
  perform pgflow._check_not_null('fail_task', 'step_slug', fail_task.step_slug is null);
  perform pgflow._check_not_null('fail_task', 'task_index', fail_task.task_index is null);
  perform pgflow._check_not_null('fail_task', 'error', fail_task.error is null);
  perform pgflow._check_not_null('fail_task', 'retry', fail_task.retry is null);
  if fail_task.attempt < 1 then
    perform pgflow._bad_argument('fail_task', 'attempt', 'null or a positive integer', fail_task.attempt::text);
  end if;
  -- a task held by the engine (a wait step's, a sub-flow step's) takes no worker's report (it never becomes a
  -- worker's: checked before any lock)
  -- (the task by its whole key alone, its status judged here: with the status in the statement, a generic plan made
  -- on nearly empty tables read the partial index of started tasks)
  select t.status, t.worker_id into v_task
  from pgflow.step_tasks as t
  where t.run_id = fail_task.run_id and t.step_slug = fail_task.step_slug and t.task_index = fail_task.task_index;
  if v_task.status = 'started' and v_task.worker_id is null then
    return false;
  end if;
  return pgflow._fail_attempt(
    fail_task.run_id, fail_task.step_slug, fail_task.task_index, fail_task.error, fail_task.attempt, pgflow.now(),
    retry => fail_task.retry
  );
end;
$$;

comment on function pgflow.fail_task(uuid, text, int, text, int, boolean) is
'Records a failed attempt: the task is retried after min(max_delay, base_delay * 2^(n-1)) seconds while attempts '
'are left and retry is true, else the step''s when_exhausted applies (fail, skip, skip-cascade). Fenced like '
'complete_task (false for a task held by the engine: a wait step''s or a sub-flow step''s). Errors longer than '
'65,536 characters are cut. PF007 unknown task; PF005 null arguments.';
