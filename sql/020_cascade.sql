-- The cascade: what happens when steps finish, start, fail or get skipped, shared by start_run,
-- complete_task, fail_task, poll_for_tasks (expiry) and resume_run.
--
-- LOCK ORDER (every engine function takes row locks in this order, so they never deadlock):
--   1. the step_states row of the step a task report is about (FOR NO KEY UPDATE);
--   2. the runs row (FOR NO KEY UPDATE), only by transactions that change the run's shape: a step
--      finishing, failing or being skipped, cancel_run, resume_run. A task completion that does not
--      finish its step never locks the run, so the tasks of a wide map step do not queue on it
--      (resume_run and prune_runs, which rewrite every step row of a run, take all of them at level 1);
--   3. step_tasks rows;
--   4. step_states rows of other steps of the run (dependents being counted down or started).
-- A batch of reports (complete_tasks) takes each level for all its runs before the next: level 1 in
-- (run_id, step_slug) order, level 2 in run_id order, then level 3.
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
-- PLANS. The functions on these paths set enable_seqscan = off. PL/pgSQL caches a generic plan of each
-- statement, and one made while the tables were nearly empty (a new database, the first minutes of a burst,
-- until autovacuum analyzes them again and the plan is replaced) reads them sequentially, and goes on doing
-- so as they grow: tests_py/test_plans.py, test_plans_made_before_a_burst, fails without the switch (every
-- completion then read most of the step states). On a database with statistics, only the definition tables
-- (steps, deps: a few pages) are read sequentially without it (test_plans_on_a_long_history), every step for
-- each step of a wide flow. The switch is not enough by itself: such a plan may still read a whole
-- table through its primary key, or through a small partial index, so every statement also
--   * looks each row up by its whole key (see below), and rows found from a list of keys (arrays, a CTE) in
--     a lateral subquery with limit 1, or with the keys as an index condition (= any(array)): joined to the
--     list, a generic plan made on nearly empty tables hashed or merged the whole table;
--   * never implies the predicate of a partial index it is not meant to read: a run found by key is
--     "finished_at is null" rather than status = 'started' (runs_in_flight), a task found by key "finished_at
--     is null and status <> 'queued'" rather than status = 'started' (step_tasks_started_*), the same rows by
--     the tables' checks. On nearly empty tables a scan of such an index ties with the key, and once cached
--     it walks every run or task in flight.
-- Where a join was seen to go wrong, rows found from other rows are read by their whole key, every key
-- value a parameter: a steps row in a scalar subquery, a dependency's state in a lateral subquery with limit
-- 1. Joined to the rows that supply the key instead, such a row may be looked up by only part of it
-- (flow_slug and flow_version from one row, step_slug alone from another, the run id alone), a part the
-- planner estimates at one row on empty or small statistics: each lookup then scans every step, dependency
-- or state of a flow version or run, and a wide or long flow becomes quadratic.

-- Called wherever a task becomes due (created due, made due by the claim, queued again): the fair round it starts
-- from, the smallest fair round of the due queued tasks of its priority in its queue (the main queue, or its
-- flow-control bucket), or 0 when there is none: one index probe. A task (or a batch created at once) gets this
-- plus its position in the batch, so that a run started behind a large map is claimed within the next claims
-- (start-time fair queueing; see docs/engine.md).
create or replace function pgflow._fair_round_base(priority int, flow_slug text, flow_key text)
returns bigint
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(
    case
      when _fair_round_base.flow_key is null then (
        select t.fair_round
        from pgflow.step_tasks as t
        where t.status = 'queued' and t.fair_round is not null and t.flow_key is null
          and t.priority = _fair_round_base.priority
        order by t.priority desc, t.fair_round
        limit 1
      )
      else (
        select t.fair_round
        from pgflow.step_tasks as t
        where t.status = 'queued' and t.fair_round is not null and t.flow_slug = _fair_round_base.flow_slug
          and t.flow_key = _fair_round_base.flow_key and t.priority = _fair_round_base.priority
        order by t.flow_slug, t.flow_key, t.priority desc, t.fair_round
        limit 1
      )
    end,
    0
  )
$$;

-- Called where tasks are created: the flow-control bucket of a task (step_tasks.flow_key), null when its step has
-- neither concurrency nor rate_limit. A run input without a value at the key path (any missing key on the way)
-- makes a bucket of its own: '' is never the text of a JSON value. Numbers equal as jsonb (1, 1.0, 1e0) share a bucket.
-- (No "set search_path": every name is qualified, and the statements creating tasks inline it.)
create or replace function pgflow._flow_key(
  flow_slug text, step_slug text, flow_controlled boolean, key_path text[], input jsonb
)
returns text
language sql
immutable
as $$
  select case
    when _flow_key.flow_controlled then pg_catalog.md5(
      _flow_key.flow_slug || '/' || _flow_key.step_slug || '/'
      || coalesce(
        case
          -- equal numbers are one value (1 and 1.0, as jsonb compares them): their text without trailing zeros
          when pg_catalog.jsonb_typeof(_flow_key.input #> _flow_key.key_path) = 'number'
            then pg_catalog.trim_scale((_flow_key.input #>> _flow_key.key_path)::numeric)::text
          else (_flow_key.input #> _flow_key.key_path)::text
        end,
        ''
      )
    )
  end
$$;

-- Called whenever tasks became claimable right away. PostgreSQL delivers identical notifications of
-- one transaction once, so this is at most one notification per flow per transaction.
create or replace function pgflow._notify_tasks_ready(flow_slug text)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  perform pg_catalog.pg_notify(
    'pgflow', pg_catalog.json_build_object('type', 'tasks_ready', 'flow_slug', _notify_tasks_ready.flow_slug)::text
  );
end;
$$;

-- Called when a run reaches completed, failed or cancelled.
create or replace function pgflow._notify_run_finished(run_id uuid, status text)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  perform pg_catalog.pg_notify(
    'pgflow',
    pg_catalog.json_build_object(
      'type', 'run_finished', 'run_id', _notify_run_finished.run_id, 'status', _notify_run_finished.status
    )::text
  );
end;
$$;

-- Called, holding the runs row, by fail_task (exhaustion in mode "fail"), by _start_step (an unmet
-- condition in mode "fail", a map step fed a non-array) and by expiry. The run and the step become
-- failed with the message; every other queued or started task of the run is cancelled, and so are
-- the steps that had not finished.
create or replace function pgflow._fail_run(run_id uuid, step_slug text, message text, now timestamptz)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
begin
  -- (started, written as not finished: see PLANS at the top of this file)
  update pgflow.runs as r
  set status = 'failed', error = _fail_run.message, finished_at = _fail_run.now
  where r.run_id = _fail_run.run_id and r.finished_at is null;
  if not found then
    return;
  end if;

  update pgflow.step_states as ss
  set status = 'failed', error = _fail_run.message, finished_at = _fail_run.now
  where ss.run_id = _fail_run.run_id and ss.step_slug = _fail_run.step_slug and ss.status in ('created', 'started');

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
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
begin
  update pgflow.step_tasks as t
  set status = 'cancelled', finished_at = _close_run.now
  where t.run_id = _close_run.run_id and t.status in ('queued', 'started');

  update pgflow.step_states as ss
  set status = 'cancelled', finished_at = _close_run.now
  -- (the run id as an index condition too: with the pairs alone, a generic plan made on nearly empty tables read
  -- every state)
  where ss.run_id = _close_run.run_id and (ss.run_id, ss.step_slug) in (
    select locked.run_id, locked.step_slug
    from pgflow.step_states as locked
    where locked.run_id = _close_run.run_id and locked.status in ('created', 'started')
    for no key update skip locked
  );

  -- sub-flows (sql/024_subflows.sql): the run's child runs are cancelled; a child run's parent task takes its end
  perform pgflow._close_subflows(_close_run.run_id, _close_run.status, _close_run.now);

  perform pgflow._notify_run_finished(_close_run.run_id, _close_run.status);
end;
$$;

-- Called, holding the runs row, by _start_step (an unmet condition) and fail_task (exhaustion in
-- mode "skip" or "skip-cascade"): the step becomes skipped, its unfinished tasks are cancelled, and
-- with cascade every step downstream of it that has not started is skipped too.
-- Returns the slugs of every step it skipped.
create or replace function pgflow._skip_step(
  run_id uuid, step_slug text, cascade boolean, message text, now timestamptz
)
returns text[]
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
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
  -- a sub-flow step's child runs are cancelled with its tasks (sql/024_subflows.sql)
  perform pgflow._cancel_children(
    _skip_step.run_id, _skip_step.step_slug,
    pg_catalog.format(
      'cancelled because step %L of its parent run %s was skipped', _skip_step.step_slug, _skip_step.run_id
    ),
    _skip_step.now
  );

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

-- Called, holding the runs row, by fail_task and expiry (a task out of attempts, or failed without retry),
-- by the reports (an output too large to store) and by _start_step (an input too large to build): the step
-- cannot go on, and its when_exhausted decides: "fail" fails the run (returns null); "skip" and
-- "skip-cascade" skip it (and, with cascade, everything downstream) and return the slugs of the steps
-- skipped, for the caller to hand to _advance.
create or replace function pgflow._exhaust_step(run_id uuid, step_slug text, message text, now timestamptz)
returns text[]
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
declare
  v_mode text;
begin
  select s.when_exhausted into v_mode
  from pgflow.step_states as ss
  inner join pgflow.steps as s
    on s.flow_slug = ss.flow_slug and s.flow_version = ss.flow_version and s.step_slug = ss.step_slug
  where ss.run_id = _exhaust_step.run_id and ss.step_slug = _exhaust_step.step_slug;

  if v_mode = 'fail' then
    perform pgflow._fail_run(_exhaust_step.run_id, _exhaust_step.step_slug, _exhaust_step.message, _exhaust_step.now);
    return null;
  end if;
  return pgflow._skip_step(
    _exhaust_step.run_id, _exhaust_step.step_slug, v_mode = 'skip-cascade', _exhaust_step.message, _exhaust_step.now
  );
end;
$$;

-- Called by _advance for the runs whose last step just finished: each run's output is an object
-- {leaf_step_slug: output} over its completed leaf steps (steps nothing depends on); a run whose output would
-- be larger than pgflow.max_output_size() fails instead.
create or replace function pgflow._complete_runs(run_ids uuid[], now timestamptz)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
declare
  v_completed uuid[];
  v_run_id uuid;
  v_big record;
begin
  -- A run's output is the object of its completed leaf steps' outputs: when those would add up to more than
  -- pgflow.max_output_size(), the output cannot be made and the run fails instead (its steps stay completed).
  for v_big in
    select r.run_id, sized.size, sized.leaves
    from pgflow.runs as r
    cross join lateral (
      -- (whether a step is a leaf, per step in the select list, looked up by key: see the output below)
      select
        coalesce(pg_catalog.sum(step.output_size) filter (where step.leaf), 0) as size,
        pg_catalog.array_agg(step.step_slug order by step.step_slug) filter (where step.leaf) as leaves
      from (
        select
          ss.step_slug, ss.output_size,
          not exists (
            select from pgflow.deps as d
            where d.dep_slug = ss.step_slug and d.flow_slug = r.flow_slug and d.flow_version = r.flow_version
          ) as leaf
        from pgflow.step_states as ss
        where ss.run_id = r.run_id and ss.status = 'completed'
      ) as step
    ) as sized
    -- (started, written as not finished: see PLANS at the top of this file)
    where r.run_id = any(_complete_runs.run_ids) and r.finished_at is null and r.remaining_steps = 0
      and sized.size > pgflow.max_output_size()
  loop
    perform pgflow._fail_run(
      v_big.run_id,
      null,
      pg_catalog.format(
        'the run''s output, the outputs of its leaf steps %s together, would be %s bytes, more than the limit of %s '
        'bytes (pgflow.max_output_size())',
        pgflow._shown(pg_catalog.array_to_string(v_big.leaves, ', ')), v_big.size, pgflow.max_output_size()
      ),
      _complete_runs.now
    );
  end loop;

  with completed as (
    update pgflow.runs as r
    set
      status = 'completed',
      finished_at = _complete_runs.now,
      -- a leaf is no step's dependency: each completed step's dependents looked up by key, in the aggregate's
      -- filter (in the where clause, the planner made an anti-join of it that, on empty statistics, read every
      -- dependency of the flow version again for each step of the run)
      output = (
        select coalesce(
          pg_catalog.jsonb_object_agg(ss.step_slug, ss.output) filter (
            where not exists (
              select from pgflow.deps as d
              where d.dep_slug = ss.step_slug and d.flow_slug = r.flow_slug and d.flow_version = r.flow_version
            )
          ),
          '{}'::jsonb
        )
        from pgflow.step_states as ss
        where ss.run_id = r.run_id and ss.status = 'completed'
      )
    where r.run_id = any(_complete_runs.run_ids) and r.finished_at is null and r.remaining_steps = 0
    returning r.run_id
  )
  select pg_catalog.array_agg(completed.run_id) into v_completed from completed;
  foreach v_run_id in array coalesce(v_completed, '{}') loop
    perform pgflow._notify_run_finished(v_run_id, 'completed');
  end loop;

  -- completed child runs: their parent tasks take their outputs (sql/024_subflows.sql)
  perform pgflow._settle_child(r.run_id, _complete_runs.now)
  from pgflow.runs as r
  where r.run_id = any(v_completed) and r.parent_run_id is not null and r.parent_settled_at is null;
end;
$$;

-- Called by _start_step and _advance: the size of the input a dependent step would receive (the object of
-- its completed dependencies' outputs), in bytes, from the output sizes recorded when they completed (the
-- keys add a few bytes each, which the limit's margin to jsonb's own absorbs).
-- (No "set search_path": every name is qualified, and _advance's statement inlines it.)
create or replace function pgflow._input_size(run_id uuid, flow_slug text, flow_version int, step_slug text)
returns bigint
language sql
stable
as $$
  -- (each dependency's state by its whole key, see the top of this file: joined, with the run id a
  -- constant, every completed state of the run was read for each step started)
  select coalesce(pg_catalog.sum(dep.output_size), 0)::bigint
  from pgflow.deps as d
  cross join lateral (
    select ss.output_size
    from pgflow.step_states as ss
    where ss.run_id = _input_size.run_id and ss.step_slug = d.dep_slug and ss.status = 'completed'
    limit 1
  ) as dep
  where d.flow_slug = _input_size.flow_slug and d.flow_version = _input_size.flow_version
    and d.step_slug = _input_size.step_slug
$$;

-- Called by _advance for each ready step: whether it starts as one plain task, all such steps together in one
-- statement (single, no condition, and an input that fits; with several dependencies their outputs together
-- may not), or through _start_step. The step's row by its whole key (see the top of this file).
create or replace function pgflow._starts_plainly(run_id uuid, flow_slug text, flow_version int, step_slug text)
returns boolean
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_step record;
begin
  select s.step_type, s.condition_if, s.condition_if_not, s.deps_count, s.subflow_slug into v_step
  from pgflow.steps as s
  where s.flow_slug = _starts_plainly.flow_slug and s.flow_version = _starts_plainly.flow_version
    and s.step_slug = _starts_plainly.step_slug;
  return v_step.step_type = 'single' and v_step.condition_if is null and v_step.condition_if_not is null
    -- a sub-flow step starts child runs (sql/024_subflows.sql)
    and v_step.subflow_slug is null
    and (
      v_step.deps_count < 2
      or pgflow._input_size(
        _starts_plainly.run_id, _starts_plainly.flow_slug, _starts_plainly.flow_version, _starts_plainly.step_slug
      ) <= pgflow.max_output_size()
    );
end;
$$;

-- Called by _advance for a ready step that is more than one plain task: a map step (its tasks come
-- from an array), a wait step, a step with a condition, or a step whose input would be too large to build. Checks the
-- size of that input, evaluates the condition against it (for a map step, against the array it maps
-- over), then creates the tasks. Returns the slugs of the steps that finished at once (an empty map;
-- skipped steps), or null when the run failed.
create or replace function pgflow._start_step(run_id uuid, step_slug text, now timestamptz)
returns text[]
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
declare
  v_run record;
  v_step pgflow.steps;
  v_input jsonb;
  v_source jsonb;
  v_condition_input jsonb;
  v_dep text;
  v_count int;
  v_input_size bigint;
  v_flow_key text;
  v_fair_round bigint;
begin
  select r.input, r.priority, ss.flow_slug, ss.flow_version into v_run
  from pgflow.runs as r
  inner join pgflow.step_states as ss on ss.run_id = r.run_id and ss.step_slug = _start_step.step_slug
  -- (a started run, written as not finished: see PLANS at the top of this file)
  where r.run_id = _start_step.run_id and r.finished_at is null and ss.status = 'created';
  if not found then
    return '{}'::text[];
  end if;
  select s.* into v_step
  from pgflow.steps as s
  where s.flow_slug = v_run.flow_slug and s.flow_version = v_run.flow_version and s.step_slug = _start_step.step_slug;

  -- the input the step would receive: the run input for a root step, else its completed deps' outputs
  -- (unless those add up to more than the engine builds: then the step cannot run)
  if v_step.deps_count = 0 then
    v_input := v_run.input;
  else
    v_input_size := pgflow._input_size(_start_step.run_id, v_step.flow_slug, v_step.flow_version, v_step.step_slug);
    if v_input_size > pgflow.max_output_size() then
      return pgflow._exhaust_step(
        _start_step.run_id,
        v_step.step_slug,
        pg_catalog.format(
          'input of step %L would be %s bytes (the outputs of its dependencies together), more than the limit of %s '
          'bytes (pgflow.max_output_size())',
          v_step.step_slug, v_input_size, pgflow.max_output_size()
        ),
        _start_step.now
      );
    end if;
    -- (each dependency's state by its whole key, as poll_for_tasks builds inputs)
    select coalesce(pg_catalog.jsonb_object_agg(d.dep_slug, dep.output), '{}'::jsonb) into v_input
    from pgflow.deps as d
    cross join lateral (
      select ss.output
      from pgflow.step_states as ss
      where ss.run_id = _start_step.run_id and ss.step_slug = d.dep_slug and ss.status = 'completed'
      limit 1
    ) as dep
    where d.flow_slug = v_step.flow_slug and d.flow_version = v_step.flow_version and d.step_slug = v_step.step_slug;
  end if;

  v_condition_input := v_input;
  if v_step.step_type = 'map' then
    if v_step.deps_count = 0 then
      v_source := v_run.input;
    else
      select d.dep_slug into v_dep
      from pgflow.deps as d
      where d.flow_slug = v_step.flow_slug and d.flow_version = v_step.flow_version
        and d.step_slug = v_step.step_slug;
      -- a skipped dependency feeds an empty array
      v_source := coalesce(v_input -> v_dep, '[]'::jsonb);
    end if;
    if pg_catalog.jsonb_typeof(v_source) <> 'array' then
      perform pgflow._fail_run(
        _start_step.run_id,
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
        _start_step.now
      );
      return null;
    end if;
    v_condition_input := v_source;
  end if;

  -- the condition
  if (v_step.condition_if is not null and not v_condition_input @> v_step.condition_if)
     or (v_step.condition_if_not is not null and v_condition_input @> v_step.condition_if_not) then
    if v_step.when_unmet = 'fail' then
      perform pgflow._fail_run(
        _start_step.run_id,
        v_step.step_slug,
        pg_catalog.format('step %L: its condition is not met (when_unmet is "fail")', v_step.step_slug),
        _start_step.now
      );
      return null;
    end if;
    return pgflow._skip_step(
      _start_step.run_id, v_step.step_slug, v_step.when_unmet = 'skip-cascade', null, _start_step.now
    );
  end if;

  -- a wait step has no task for workers: it waits for its signal (023_wait_steps.sql)
  if v_step.step_type = 'wait' then
    return pgflow._start_wait(_start_step.run_id, v_step.step_slug, _start_step.now);
  end if;

  -- the tasks: one for a single step, one per element for a map step; an empty map completes at once
  v_count := case when v_step.step_type = 'map' then pg_catalog.jsonb_array_length(v_source) else 1 end;
  if v_count = 0 then
    update pgflow.step_states as ss
    set
      status = 'completed', remaining_tasks = 0, initial_tasks = 0, output = '[]'::jsonb,
      started_at = _start_step.now, finished_at = _start_step.now
    where ss.run_id = _start_step.run_id and ss.step_slug = v_step.step_slug;
    return array[v_step.step_slug];
  end if;

  update pgflow.step_states as ss
  set status = 'started', remaining_tasks = v_count, initial_tasks = v_count, started_at = _start_step.now
  where ss.run_id = _start_step.run_id and ss.step_slug = v_step.step_slug;

  -- a sub-flow step: engine-held tasks, each with a child run (sql/024_subflows.sql)
  if v_step.subflow_slug is not null then
    return pgflow._start_subflow_tasks(
      _start_step.run_id, v_step,
      case when v_step.step_type = 'map' then v_source else pg_catalog.jsonb_build_array(v_input) end,
      _start_step.now
    );
  end if;

  -- flow control and fair queueing: the tasks' bucket; due tasks get fair rounds from the queue's smallest on,
  -- one per element (delayed ones get theirs when they become due)
  v_flow_key := pgflow._flow_key(
    v_step.flow_slug, v_step.step_slug, v_step.concurrency is not null or v_step.rate_limit is not null,
    v_step.concurrency_key, v_run.input
  );
  if v_step.start_delay = 0 then
    v_fair_round := pgflow._fair_round_base(v_run.priority, v_step.flow_slug, v_flow_key);
  end if;

  if v_step.step_type = 'map' then
    insert into pgflow.step_tasks (
      run_id, step_slug, task_index, flow_slug, status, input, visible_at, queued_at, priority, fair_round, flow_key
    )
    select
      _start_step.run_id, v_step.step_slug, e.pos::int - 1, v_step.flow_slug, 'queued', e.element,
      _start_step.now + pgflow._seconds(v_step.start_delay), _start_step.now, v_run.priority,
      v_fair_round + e.pos - 1, v_flow_key
    from pg_catalog.jsonb_array_elements(v_source) with ordinality as e (element, pos);
  else
    insert into pgflow.step_tasks (
      run_id, step_slug, task_index, flow_slug, status, visible_at, queued_at, priority, fair_round, flow_key
    )
    values (
      _start_step.run_id, v_step.step_slug, 0, v_step.flow_slug, 'queued',
      _start_step.now + pgflow._seconds(v_step.start_delay), _start_step.now, v_run.priority, v_fair_round,
      v_flow_key
    );
  end if;

  -- delayed tasks send nothing: workers find them on their fallback poll
  if v_step.start_delay = 0 then
    perform pgflow._notify_tasks_ready(v_step.flow_slug);
  end if;
  return '{}'::text[];
end;
$$;

-- Called, holding the rows of the runs involved, by start_run, the task reports, fail_task and
-- resume_run: the cascade, for any number of runs at once. Finished steps (completed or skipped,
-- given as parallel arrays of run ids and step slugs) are counted off their runs and off their
-- dependents; every step whose dependencies are all finished starts; this repeats while steps
-- finish at once (empty maps, unmet conditions). Runs with no step left complete.
-- Plain steps (single, no condition) start together in one statement whatever their number; map
-- steps and steps with conditions go through _start_step one at a time.
create or replace function pgflow._advance(
  finished_runs uuid[], finished_steps text[], ready_runs uuid[], ready_steps text[], now timestamptz
)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
declare
  v_finished_runs uuid[] := coalesce(_advance.finished_runs, '{}'::uuid[]);
  v_finished_steps text[] := coalesce(_advance.finished_steps, '{}'::text[]);
  v_ready_runs uuid[] := coalesce(_advance.ready_runs, '{}'::uuid[]);
  v_ready_steps text[] := coalesce(_advance.ready_steps, '{}'::text[]);
  -- per ready step: whether it starts plainly (_starts_plainly)
  v_ready_plain boolean[];
  v_done_runs uuid[] := '{}'::uuid[];
  v_done uuid[];
  v_skipped text[];
  -- runs a step's start failed in this call: their other ready steps do not start
  v_failed uuid[] := '{}'::uuid[];
  v_flows text[];
  v_flow text;
begin
  if pg_catalog.cardinality(v_ready_runs) > 0 then
    select pg_catalog.array_agg(
      pgflow._starts_plainly(ss.run_id, ss.flow_slug, ss.flow_version, ss.step_slug) order by u.pos
    )
    into v_ready_plain
    from rows from (pg_catalog.unnest(v_ready_runs), pg_catalog.unnest(v_ready_steps))
      with ordinality as u (run_id, step_slug, pos)
    -- (each state by its whole key: joined, a generic plan made on nearly empty tables hashed every state)
    cross join lateral (
      select s.run_id, s.step_slug, s.flow_slug, s.flow_version
      from pgflow.step_states as s
      where s.run_id = u.run_id and s.step_slug = u.step_slug
      limit 1
    ) as ss;
  end if;

  loop
    ---------------------------------------------------------------------------------------------
    -- Finished steps: one fewer remaining step for their run, one fewer remaining dependency for
    -- each of their dependents (only the dependents' counters move). Dependents left with none
    -- are ready.
    ---------------------------------------------------------------------------------------------
    if pg_catalog.cardinality(v_finished_runs) > 0 then
      with finished as (
        select f.run_id, f.step_slug
        from rows from (pg_catalog.unnest(v_finished_runs), pg_catalog.unnest(v_finished_steps))
          as f (run_id, step_slug)
      ),
      per_run as (
        select finished.run_id, pg_catalog.count(*)::int as n from finished group by finished.run_id
      ),
      runs_counted as (
        update pgflow.runs as r
        set remaining_steps = r.remaining_steps - per_run.n
        from per_run
        -- (the runs by key whatever the join: joined alone, a generic plan made on nearly empty tables
        -- hashed every run)
        where r.run_id = any(v_finished_runs) and r.run_id = per_run.run_id
        returning r.run_id, r.remaining_steps
      ),
      per_dependent as (
        select finished.run_id, d.step_slug, pg_catalog.count(*)::int as n
        from finished
        -- (each finished state by its whole key: joined, the state was looked up by step_slug alone; then its
        -- dependents by all of deps_by_dep, planned apart (offset 0): joined, a generic plan read every
        -- dependency of the flow version, once per version, for each finished step)
        cross join lateral (
          select s.flow_slug, s.flow_version
          from pgflow.step_states as s
          where s.run_id = finished.run_id and s.step_slug = finished.step_slug
          limit 1
        ) as fs
        cross join lateral (
          select d.step_slug
          from pgflow.deps as d
          where d.dep_slug = finished.step_slug and d.flow_slug = fs.flow_slug and d.flow_version = fs.flow_version
          offset 0
        ) as d
        group by finished.run_id, d.step_slug
      ),
      dependents_counted as (
        update pgflow.step_states as ss
        set remaining_deps = ss.remaining_deps - per_dependent.n
        from per_dependent
        where ss.run_id = per_dependent.run_id and ss.step_slug = per_dependent.step_slug
        returning ss.run_id, ss.step_slug, ss.flow_slug, ss.flow_version, ss.remaining_deps, ss.status
      )
      -- (steps rows for the ready dependents only, by key: joined in per_dependent, next to deps, the
      -- planner could, and on empty statistics did, scan every step of the flow version for each one)
      select
        (select pg_catalog.array_agg(rc.run_id) from runs_counted as rc where rc.remaining_steps = 0),
        v_ready_runs || coalesce(pg_catalog.array_agg(dc.run_id), '{}'::uuid[]),
        v_ready_steps || coalesce(pg_catalog.array_agg(dc.step_slug), '{}'::text[]),
        coalesce(v_ready_plain, '{}'::boolean[]) || coalesce(
          pg_catalog.array_agg(pgflow._starts_plainly(dc.run_id, dc.flow_slug, dc.flow_version, dc.step_slug)),
          '{}'::boolean[]
        )
      into v_done, v_ready_runs, v_ready_steps, v_ready_plain
      from dependents_counted as dc
      where dc.remaining_deps = 0 and dc.status = 'created';

      v_done_runs := v_done_runs || coalesce(v_done, '{}'::uuid[]);
      v_finished_runs := '{}'::uuid[];
      v_finished_steps := '{}'::text[];
    end if;

    exit when pg_catalog.cardinality(v_ready_runs) = 0;

    ---------------------------------------------------------------------------------------------
    -- Ready map steps, steps with conditions and steps whose input would be too large, one at a time.
    ---------------------------------------------------------------------------------------------
    for i in 1 .. pg_catalog.cardinality(v_ready_runs) loop
      if not v_ready_plain[i] then
        v_skipped := pgflow._start_step(v_ready_runs[i], v_ready_steps[i], _advance.now);
        if v_skipped is null then
          v_failed := v_failed || v_ready_runs[i];
        else
          v_finished_runs := v_finished_runs
            || pg_catalog.array_fill(v_ready_runs[i], array[pg_catalog.cardinality(v_skipped)]);
          v_finished_steps := v_finished_steps || v_skipped;
        end if;
      end if;
    end loop;

    ---------------------------------------------------------------------------------------------
    -- Ready plain steps, of runs still started (the callers hold started runs; a run can only have
    -- failed above, in this call): all at once.
    ---------------------------------------------------------------------------------------------
    if true = any(v_ready_plain) then
      with ready as (
        select
          u.run_id, u.step_slug, ss.flow_slug, step.start_delay, run.priority,
          pgflow._flow_key(
            ss.flow_slug, ss.step_slug, step.concurrency is not null or step.rate_limit is not null,
            step.concurrency_key, run.input
          ) as flow_key
        from rows from (
          pg_catalog.unnest(v_ready_runs), pg_catalog.unnest(v_ready_steps), pg_catalog.unnest(v_ready_plain)
        ) as u (run_id, step_slug, plain)
        inner join pgflow.step_states as ss
          on ss.run_id = u.run_id and ss.step_slug = u.step_slug and ss.status = 'created'
        -- (the step's row by key, see the top of this file: joined, with 2,500 ready roots, steps was read by
        -- step_slug alone and every step of the flow version scanned for each root)
        cross join lateral (
          select s.start_delay, s.concurrency, s.concurrency_key, s.rate_limit
          from pgflow.steps as s
          where s.flow_slug = ss.flow_slug and s.flow_version = ss.flow_version and s.step_slug = ss.step_slug
          limit 1
        ) as step
        cross join lateral (
          select r.priority, r.input from pgflow.runs as r where r.run_id = u.run_id limit 1
        ) as run
        where u.plain and not (u.run_id = any(v_failed))
      ),
      started as (
        update pgflow.step_states as ss
        set status = 'started', remaining_tasks = 1, initial_tasks = 1, started_at = _advance.now
        from ready
        where ss.run_id = ready.run_id and ss.step_slug = ready.step_slug
        returning ss.run_id, ss.step_slug, ready.flow_slug, ready.start_delay, ready.priority, ready.flow_key
      ),
      -- the fair round the due tasks of each priority start from (one probe per priority; a flow-controlled
      -- task's, from its bucket, is probed for it alone). Materialized: read once per task, an inlined one scanned
      -- every started step for each task (quadratic in a wide flow's roots, test_plans.py)
      bases as materialized (
        select p.priority, pgflow._fair_round_base(p.priority, null, null) as base
        from (select distinct started.priority from started) as p
      ),
      -- from started alone: joined back to ready, two CTE scans each estimated at one row made a nested
      -- loop comparing every ready step with every started one (quadratic in a wide flow's roots)
      inserted as (
        insert into pgflow.step_tasks (
          run_id, step_slug, task_index, flow_slug, status, visible_at, queued_at, priority, fair_round, flow_key
        )
        select
          st.run_id, st.step_slug, 0, st.flow_slug, 'queued',
          _advance.now + pgflow._seconds(st.start_delay), _advance.now, st.priority,
          case
            when st.start_delay = 0 then st.ordinal + case
              when st.flow_key is null then (select b.base from bases as b where b.priority = st.priority)
              else pgflow._fair_round_base(st.priority, st.flow_slug, st.flow_key)
            end
          end,
          st.flow_key
        from (
          -- a task's position among those its run starts here
          select started.*, pg_catalog.row_number() over (partition by started.run_id order by started.step_slug) - 1
            as ordinal
          from started
        ) as st
        returning step_tasks.flow_slug, step_tasks.visible_at
      )
      select pg_catalog.array_agg(distinct inserted.flow_slug) into v_flows
      from inserted
      where inserted.visible_at <= _advance.now;

      -- delayed tasks send nothing: workers find them on their fallback poll
      foreach v_flow in array coalesce(v_flows, '{}'::text[]) loop
        perform pgflow._notify_tasks_ready(v_flow);
      end loop;
    end if;

    v_ready_runs := '{}'::uuid[];
    v_ready_steps := '{}'::text[];
    v_ready_plain := '{}'::boolean[];
  end loop;

  if pg_catalog.cardinality(v_done_runs) > 0 then
    perform pgflow._complete_runs(v_done_runs, _advance.now);
  end if;
end;
$$;

-- Called by the task reports, holding the reported step's row and no task row of the run, whenever
-- they refuse a report (return false). PF007 when the task does not exist. When the run is no longer started, a
-- cancel or failure may have ended it while this transaction held the step's row (waiting for the
-- task row, say): that transaction had to skip the row, so the task and step it left unfinished are
-- cancelled here (_repair_report), and no step of an ended run stays started.
create or replace function pgflow._reject_report(run_id uuid, step_slug text, task_index int, now timestamptz)
returns boolean
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
begin
  perform pgflow._check_task_exists(_reject_report.run_id, _reject_report.step_slug, _reject_report.task_index);
  -- FOR SHARE waits for a cancel or failure of the run in progress (it holds the row FOR NO KEY UPDATE
  -- and never waits for this transaction, which holds no task row of the run), then sees its outcome.
  perform from pgflow.runs as r where r.run_id = _reject_report.run_id for share;
  return pgflow._repair_report(
    _reject_report.run_id, _reject_report.step_slug, _reject_report.task_index, _reject_report.now
  );
end;
$$;

-- Called by _reject_report, and by complete_tasks for the reports it refused once no end of their runs can
-- be in progress (it holds the rows of those runs, or waited for the end on a task row): when the run has
-- ended, the task and the step the report is about are cancelled if the end had to leave them. Returns false.
create or replace function pgflow._repair_report(run_id uuid, step_slug text, task_index int, now timestamptz)
returns boolean
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
begin
  if (select r.status from pgflow.runs as r where r.run_id = _repair_report.run_id) = 'started' then
    return false;
  end if;

  update pgflow.step_tasks as t
  set status = 'cancelled', finished_at = _repair_report.now
  where t.run_id = _repair_report.run_id and t.step_slug = _repair_report.step_slug
    and t.task_index = _repair_report.task_index and t.status in ('queued', 'started');

  update pgflow.step_states as ss
  set status = 'cancelled', finished_at = _repair_report.now
  where ss.run_id = _repair_report.run_id and ss.step_slug = _repair_report.step_slug
    and ss.status in ('created', 'started');
  return false;
end;
$$;

-- Called by the task reports: PF007 unless the task exists.
create or replace function pgflow._check_task_exists(run_id uuid, step_slug text, task_index int)
returns void
language plpgsql
stable
set search_path = pg_catalog, pg_temp
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
        'task %s of step %s in run %s does not exist',
        _check_task_exists.task_index, pgflow._shown(_check_task_exists.step_slug), _check_task_exists.run_id
      ),
      detail = pg_catalog.jsonb_build_object(
        'run_id', _check_task_exists.run_id, 'step_slug', pg_catalog.left(_check_task_exists.step_slug, 200),
        'task_index', _check_task_exists.task_index
      )::text;
  end if;
end;
$$;
