-- Controlling runs: cancel_run, resume_run and prune_runs, in the lock order of 020_cascade.sql.
-- cancel_run takes the run's row, then its tasks', and skips the step rows other transactions hold;
-- resume_run and prune_runs, which rewrite or delete every step row, take those first.

-- Called by operators and clients: stops a started run.
create or replace function pgflow.cancel_run(run_id uuid, reason text default null)
returns pgflow.runs
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
declare
  v_now timestamptz := pgflow.now();
  v_run pgflow.runs;
begin
  perform pgflow._check_not_null('cancel_run', 'run_id', cancel_run.run_id is null);
  select r.* into v_run from pgflow.runs as r where r.run_id = cancel_run.run_id for no key update;
  if not found then
    raise exception using
      errcode = 'PF006',
      message = pg_catalog.format('run %s does not exist', cancel_run.run_id);
  end if;
  if v_run.status = 'cancelled' then
    return v_run;
  end if;
  if v_run.status <> 'started' then
    raise exception using
      errcode = 'PF008',
      message = pg_catalog.format(
        'run %s is already %s; only a started run can be cancelled', v_run.run_id, v_run.status
      );
  end if;

  update pgflow.runs as r
  set status = 'cancelled', error = pgflow._clip(cancel_run.reason), finished_at = v_now
  where r.run_id = cancel_run.run_id
  returning * into v_run;

  perform pgflow._close_run(cancel_run.run_id, 'cancelled', v_now);
  return v_run;
end;
$$;

comment on function pgflow.cancel_run(uuid, text) is
'Cancels a started run: its queued and started tasks are cancelled and later reports for it return false. '
'A cancelled run is returned unchanged; PF008 for a completed or failed run, PF006 for an unknown one.';

-- Called by operators and clients: starts a failed or cancelled run again where it stopped.
create or replace function pgflow.resume_run(run_id uuid)
returns pgflow.runs
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
declare
  v_now timestamptz := pgflow.now();
  v_run pgflow.runs;
  v_ready text[];
  v_fair_round bigint;
  v_waits text[];
  v_subflows text[];
begin
  perform pgflow._check_not_null('resume_run', 'run_id', resume_run.run_id is null);
  -- Unlike cancel_run, resume_run rewrites every step's row, so it takes them first (level 1 of the lock
  -- order, as a task report does) and only then the run's row: a refused report holding a step's row
  -- may be waiting for the run's. It looks at the run before it locks anything: the rows of a started run
  -- may be held by a report whose cascade goes on to other steps' rows (level 4), and waiting for those in
  -- step order could close a cycle; an ended run has no cascade left in it.
  select r.* into v_run from pgflow.runs as r where r.run_id = resume_run.run_id;
  if not found then
    raise exception using
      errcode = 'PF006',
      message = pg_catalog.format('run %s does not exist', resume_run.run_id);
  end if;
  if v_run.status not in ('failed', 'cancelled') then
    raise exception using
      errcode = 'PF008',
      message = pg_catalog.format(
        'run %s is %s; only a failed or cancelled run can be resumed', v_run.run_id, v_run.status
      );
  end if;
  perform
  from pgflow.step_states as ss
  where ss.run_id = resume_run.run_id
  order by ss.step_slug
  for no key update;
  select r.* into v_run from pgflow.runs as r where r.run_id = resume_run.run_id for no key update;
  if not found then
    raise exception using
      errcode = 'PF006',
      message = pg_catalog.format('run %s does not exist', resume_run.run_id);
  end if;
  if v_run.status not in ('failed', 'cancelled') then
    raise exception using
      errcode = 'PF008',
      message = pg_catalog.format(
        'run %s is %s; only a failed or cancelled run can be resumed', v_run.run_id, v_run.status
      );
  end if;

  -- The steps that did not finish (failed, cancelled: completed and skipped steps stay as they are) are
  -- re-opened, and so are their tasks that did not complete: queued again with a fresh attempt budget.
  -- Their attempt number keeps counting, so a late report from an attempt before the resume is still
  -- fenced off. The tasks of a completed or skipped step are never touched.
  -- They are due at once, in the fair queue from its smallest round on, a map's task in the round of its
  -- element's index (a flow-controlled task from its bucket's; it keeps its bucket): a resumed map does not go
  -- ahead of runs started since.
  -- the unfinished steps whose tasks the engine holds (wait steps, sub-flow steps): handed over below
  select
    coalesce(pg_catalog.array_agg(ss.step_slug) filter (where s.step_type = 'wait'), '{}'),
    coalesce(pg_catalog.array_agg(ss.step_slug) filter (where s.subflow_slug is not null), '{}')
  into v_waits, v_subflows
  from pgflow.step_states as ss
  -- (each step by its whole key: joined on the pairs, a generic plan read every step of the flow version)
  cross join lateral (
    select st.step_type, st.subflow_slug
    from pgflow.steps as st
    where st.flow_slug = ss.flow_slug and st.flow_version = ss.flow_version and st.step_slug = ss.step_slug
    limit 1
  ) as s
  where ss.run_id = resume_run.run_id and ss.status not in ('completed', 'skipped');

  v_fair_round := pgflow._fair_round_base(v_run.priority, null, null);
  update pgflow.step_tasks as t
  set
    status = 'queued', attempts_base = t.attempt, visible_at = v_now, queued_at = v_now,
    worker_id = null, deadline = null, started_at = null, finished_at = null,
    fair_round = t.task_index + case
      when t.flow_key is null then v_fair_round
      else pgflow._fair_round_base(t.priority, t.flow_slug, t.flow_key)
    end
  from pgflow.step_states as ss
  where t.run_id = resume_run.run_id and t.status in ('queued', 'started', 'failed', 'cancelled')
    and ss.run_id = t.run_id and ss.step_slug = t.step_slug and ss.status not in ('completed', 'skipped');

  -- Steps that did not finish are rebuilt from their tasks and dependencies: a step with tasks is
  -- started again with the tasks still to do; a step without tasks waits for its dependencies.
  -- (A step never has all its tasks completed without being completed itself: the report of its
  -- last task completes it in the same transaction.)
  with rebuilt as (
    select
      ss.step_slug,
      (
        select pg_catalog.count(*)::int from pgflow.step_tasks as t
        where t.run_id = ss.run_id and t.step_slug = ss.step_slug
      ) as tasks,
      (
        select pg_catalog.count(*)::int from pgflow.step_tasks as t
        where t.run_id = ss.run_id and t.step_slug = ss.step_slug and t.status <> 'completed'
      ) as open_tasks,
      (
        select pg_catalog.count(*)::int
        from pgflow.deps as d
        inner join pgflow.step_states as dep on dep.run_id = ss.run_id and d.dep_slug = dep.step_slug
        where d.flow_slug = ss.flow_slug and d.flow_version = ss.flow_version and d.step_slug = ss.step_slug
          and dep.status not in ('completed', 'skipped')
      ) as open_deps
    from pgflow.step_states as ss
    where ss.run_id = resume_run.run_id and ss.status not in ('completed', 'skipped')
  )
  update pgflow.step_states as ss
  set
    status = case when rebuilt.tasks > 0 then 'started' else 'created' end,
    remaining_deps = rebuilt.open_deps,
    remaining_tasks = case when rebuilt.tasks > 0 then rebuilt.open_tasks end,
    initial_tasks = case when rebuilt.tasks > 0 then rebuilt.tasks end,
    started_at = case when rebuilt.tasks > 0 then ss.started_at end,
    error = null,
    finished_at = null
  from rebuilt
  where ss.run_id = resume_run.run_id and ss.step_slug = rebuilt.step_slug;

  update pgflow.runs as r
  set
    status = 'started', error = null, output = null, finished_at = null,
    remaining_steps = (
      select pg_catalog.count(*) from pgflow.step_states as ss
      where ss.run_id = r.run_id and ss.status not in ('completed', 'skipped')
    )
  where r.run_id = resume_run.run_id;

  -- sub-flow tasks are held by the engine again, resuming their child runs (sql/024_subflows.sql)
  if pg_catalog.cardinality(v_subflows) > 0 then
    perform pgflow._resume_subflow_tasks(resume_run.run_id, v_subflows, v_now);
  end if;
  -- wait steps wait again, held by the engine rather than queued (023_wait_steps.sql)
  if pg_catalog.cardinality(v_waits) > 0 then
    perform pgflow._resume_waits(resume_run.run_id, v_waits, v_now);
  end if;

  select coalesce(pg_catalog.array_agg(ss.step_slug), '{}') into v_ready
  from pgflow.step_states as ss
  where ss.run_id = resume_run.run_id and ss.status = 'created' and ss.remaining_deps = 0;

  perform pgflow._advance(
    '{}', '{}', pg_catalog.array_fill(resume_run.run_id, array[pg_catalog.cardinality(v_ready)]), v_ready, v_now
  );
  perform pgflow._complete_runs(array[resume_run.run_id], v_now);
  perform pgflow._notify_tasks_ready(v_run.flow_slug);

  select r.* into v_run from pgflow.runs as r where r.run_id = resume_run.run_id;
  return v_run;
end;
$$;

comment on function pgflow.resume_run(uuid) is
'Starts a failed or cancelled run again: completed steps and completed map tasks keep their outputs, failed and '
'cancelled tasks are queued with a fresh attempt budget. PF008 for any other status, PF006 for an unknown run.';

-- Called by operators and schedulers: deletes finished runs with their step states and tasks.
create or replace function pgflow.prune_runs(older_than interval)
returns int
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_runs uuid[];
  v_deleted int;
  v_before timestamptz;
begin
  -- judged by the time it gives (an interval of mixed units, such as '-1 year +360 days', compares as 0 but
  -- reaches into the future)
  begin
    v_before := pgflow.now() - prune_runs.older_than;
  exception
    when datetime_field_overflow then
      v_before := null;
  end;
  if v_before is null or v_before > pgflow.now() or v_before < pgflow.now() - interval '1000 years' then
    perform pgflow._bad_argument(
      'prune_runs', 'older_than', 'an interval from 0 to 1000 years, for example ''7 days''',
      prune_runs.older_than::text
    );
  end if;
  -- (a child run whose end its parent task has not taken yet stays until it is settled)
  select pg_catalog.array_agg(r.run_id) into v_runs
  from pgflow.runs as r
  where r.finished_at is not null and r.finished_at < v_before
    and (r.parent_run_id is null or r.parent_settled_at is not null);
  if v_runs is null then
    return 0;
  end if;
  -- in the lock order: step states, runs (still finished: resume_run takes them in the same order), tasks
  perform
  from pgflow.step_states as ss
  where ss.run_id = any(v_runs)
  order by ss.run_id, ss.step_slug
  for update;
  select pg_catalog.array_agg(r.run_id) into v_runs
  from (
    select r.run_id
    from pgflow.runs as r
    where r.run_id = any(v_runs) and r.finished_at is not null and r.finished_at < v_before
      and (r.parent_run_id is null or r.parent_settled_at is not null)
    order by r.run_id
    for update
  ) as r;
  delete from pgflow.runs as r where r.run_id = any(v_runs);
  get diagnostics v_deleted = row_count;
  delete from pgflow.step_tasks as t where t.run_id = any(v_runs);
  delete from pgflow.step_states as ss where ss.run_id = any(v_runs);
  return v_deleted;
end;
$$;

comment on function pgflow.prune_runs(interval) is
'Deletes runs that finished (completed, failed or cancelled) more than older_than ago, with their step states '
'and tasks. Returns how many runs it deleted. PF005 unless older_than is an interval from 0 to 1000 years.';
