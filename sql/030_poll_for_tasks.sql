-- The worker protocol, claiming side: poll_for_tasks and the expiry of overdue work.
--
-- A claim is one statement per batch: due queued tasks come from the partial index step_tasks_due
-- (finished tasks are not in it, so the claim does not slow down as history grows), are locked with
-- FOR UPDATE SKIP LOCKED (concurrent pollers never receive the same task and never wait on each
-- other), and their inputs are built from the stored outputs of their dependencies.

-- Called by _expire_tasks, and by the reports (_complete_reports) for an attempt reported after its deadline:
-- counts one overdue attempt as failed (retried or exhausted like any failure, by _fail_attempt) with the error
-- "attempt N timed out: ..." — no result by its deadline, or (last_heartbeat_at given) its worker's lease
-- ended. wait as for _fail_attempt: false (expiry) skips busy rows, true (a report, whose transaction already
-- holds the step's and the run's rows in the cascade's order) waits. Returns whether the failure was recorded.
create or replace function pgflow._expire_attempt(
  run_id uuid, step_slug text, task_index int, attempt int, deadline timestamptz, now timestamptz, wait boolean,
  worker_id text default null, last_heartbeat_at timestamptz default null, worker_timeout interval default null
)
returns boolean
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  return pgflow._fail_attempt(
    _expire_attempt.run_id,
    _expire_attempt.step_slug,
    _expire_attempt.task_index,
    case
      when _expire_attempt.last_heartbeat_at is null then pg_catalog.format(
        'attempt %s timed out: no result by its deadline %s', _expire_attempt.attempt, _expire_attempt.deadline
      )
      else pg_catalog.format(
        'attempt %s timed out: worker %s sent no heartbeat since %s (its timeout is %s)', _expire_attempt.attempt,
        pgflow._shown(_expire_attempt.worker_id), _expire_attempt.last_heartbeat_at, _expire_attempt.worker_timeout
      )
    end,
    _expire_attempt.attempt,
    _expire_attempt.now,
    wait => _expire_attempt.wait
  );
end;
$$;

-- Called by poll_for_tasks and expire_tasks, one caller at a time: turns overdue attempts into failed
-- attempts, which are retried or exhausted like any failure. Tasks whose rows are busy are left for
-- the next pass. An attempt is overdue when its deadline has passed, or when the lease of the worker
-- holding it has ended (it neither polled nor beat for the timeout it registered). Returns how many
-- attempts it expired. Both searches start from something small (the earliest deadlines; the workers
-- whose lease ended), never from every started task, so a pass costs next to nothing when there is
-- nothing to expire.
create or replace function pgflow._expire_tasks(now timestamptz)
returns int
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
declare
  v_task record;
  v_expired int := 0;
  v_error text;
  v_sqlstate text;
begin
  for v_task in
    select
      t.run_id, t.step_slug, t.task_index, t.attempt, t.deadline, t.worker_id,
      null::timestamptz as last_heartbeat_at, null::interval as worker_timeout
    from pgflow.step_tasks as t
    where t.status = 'started' and t.deadline <= _expire_tasks.now
    union all
    select
      t.run_id, t.step_slug, t.task_index, t.attempt, t.deadline, t.worker_id, w.last_heartbeat_at, w.worker_timeout
    from pgflow.workers as w
    inner join pgflow.step_tasks as t on w.worker_id = t.worker_id and t.status = 'started'
    where w.stopped_at is null and w.expires_at <= _expire_tasks.now
      and t.deadline > _expire_tasks.now
    limit 1000
  loop
    -- Each attempt in a block of its own: an error the engine did not foresee while one is expired is reported
    -- as a WARNING (in the server's log) and that attempt is left for the next pass; it never fails the poll.
    begin
      if pgflow._expire_attempt(
        v_task.run_id, v_task.step_slug, v_task.task_index, v_task.attempt, v_task.deadline, _expire_tasks.now,
        wait => false, worker_id => v_task.worker_id, last_heartbeat_at => v_task.last_heartbeat_at,
        worker_timeout => v_task.worker_timeout
      ) then
        v_expired := v_expired + 1;
      end if;
    exception
      when others then
        get stacked diagnostics v_error = message_text, v_sqlstate = returned_sqlstate;
        raise warning 'pgflow: expiring attempt % of task % of step % in run % failed (%): %',
          v_task.attempt, v_task.task_index, v_task.step_slug, v_task.run_id, v_sqlstate, v_error;
    end;
  end loop;

  -- silent workers whose tasks are all expired are marked stopped, so later passes skip them
  update pgflow.workers as w
  set stopped_at = _expire_tasks.now
  where w.stopped_at is null and w.expires_at <= _expire_tasks.now
    and not exists (select from pgflow.step_tasks as t where t.worker_id = w.worker_id and t.status = 'started');

  return v_expired;
end;
$$;

-- Called by schedulers that want expiry without polling (poll_for_tasks expires on its own).
-- Takes the same lock as the pollers' expiry pass, so the two never work at the same time.
create or replace function pgflow.expire_tasks()
returns int
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now timestamptz := pgflow.now();
begin
  perform pgflow._notice_server_start(v_now);
  perform from pgflow.locks as l where l.name = 'expire_tasks' for update;
  return pgflow._expire_tasks(v_now);
end;
$$;

comment on function pgflow.expire_tasks() is
'Counts overdue attempts (past their deadline, or held by a worker that neither polled nor beat for its own '
'timeout) as failed and retries or exhausts them. Returns how many it expired.';

-- Called by poll_for_tasks and poll_for_tasks_lean for flow_versions: PF005 unless it is null (JSON null too)
-- or an object {"flow_slug": [version, ...]} of at most 1,000 flow slugs, each with an array of at most 1,000
-- versions (integers from 1 to 2147483647). Returns it, or null for JSON null.
create or replace function pgflow._check_flow_versions(function_name text, flow_versions jsonb)
returns jsonb
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  if coalesce(_check_flow_versions.flow_versions, 'null'::jsonb) = 'null'::jsonb then
    return null;
  end if;
  if pg_catalog.jsonb_typeof(_check_flow_versions.flow_versions) <> 'object'
     or (select pg_catalog.count(*) from pg_catalog.jsonb_object_keys(_check_flow_versions.flow_versions)) > 1000
     or exists (
       select
       from pg_catalog.jsonb_each(_check_flow_versions.flow_versions) as e (slug, versions)
       where e.slug !~ '^[a-zA-Z_][a-zA-Z0-9_]*$' or pg_catalog.length(e.slug) > 128
         or pg_catalog.jsonb_typeof(e.versions) <> 'array'
         or pg_catalog.jsonb_array_length(e.versions) > 1000
         or exists (
           select
           from pg_catalog.jsonb_array_elements(e.versions) as v (version)
           where pg_catalog.jsonb_typeof(v.version) <> 'number'
             or (v.version #>> '{}') !~ '^[0-9]{1,10}$'
             or (v.version #>> '{}')::numeric not between 1 and 2147483647
         )
     ) then
    perform pgflow._bad_argument(
      _check_flow_versions.function_name, 'flow_versions',
      'null (every version) or a JSON object {"flow_slug": [version, ...]} of at most 1,000 flow slugs, each with '
      'an array of at most 1,000 versions (integers from 1)',
      _check_flow_versions.flow_versions::text
    );
  end if;
  return _check_flow_versions.flow_versions;
end;
$$;

-- Called by poll_for_tasks and poll_for_tasks_lean: claims up to max_tasks due tasks and returns them
-- with their inputs (and the run input as flow_input, unless with_flow_input is false). flow_versions, when
-- not null, limits the claim to tasks of runs of the listed flow versions: a worker claims only the versions
-- whose definitions equal its code (flows absent from the object are not claimed at all).
create or replace function pgflow._poll_for_tasks(
  worker_id text, flow_slugs text[], max_tasks int, with_flow_input boolean, flow_versions jsonb
)
returns setof pgflow.task
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
-- The claim must walk step_tasks_due in visible_at order and stop after max_tasks rows. Without these,
-- a table whose statistics are stale or small (a new deployment, a burst of new tasks) gets a bitmap
-- scan that reads and sorts every due task on each claim.
set enable_bitmapscan = off
set enable_sort = off
as $$
declare
  v_now timestamptz := pgflow.now();
  v_function text := case when _poll_for_tasks.with_flow_input then 'poll_for_tasks' else 'poll_for_tasks_lean' end;
  v_versions jsonb;
  v_version_slugs text[];
begin
  perform pgflow._check_name(v_function, 'worker_id', _poll_for_tasks.worker_id);
  perform pgflow._check_slugs(v_function, 'flow_slugs', _poll_for_tasks.flow_slugs, 'every flow');
  v_versions := pgflow._check_flow_versions(v_function, _poll_for_tasks.flow_versions);
  if v_versions is not null then
    v_version_slugs := array(select k.slug from pg_catalog.jsonb_object_keys(v_versions) as k (slug));
  end if;
  if _poll_for_tasks.max_tasks is null or _poll_for_tasks.max_tasks not between 0 and 10000 then
    perform pgflow._bad_argument(
      v_function, 'max_tasks', 'an integer from 0 to 10000', _poll_for_tasks.max_tasks::text
    );
  end if;

  perform pgflow._notice_server_start(v_now);

  -- A poll is a sign of life: a registered worker that polls renews its lease (at most once a second,
  -- so the poll stays read-mostly), and records the flow versions it serves (when they changed).
  update pgflow.workers as w
  set last_heartbeat_at = v_now, expires_at = v_now + w.worker_timeout, stopped_at = null, flow_versions = v_versions
  where w.worker_id = _poll_for_tasks.worker_id
    and (
      w.stopped_at is not null or w.last_heartbeat_at < v_now - interval '1 second'
      or w.flow_versions is distinct from v_versions
    );

  -- Expiry needs no cron job: pollers take turns doing it (one at a time, the others skip it), when
  -- two index probes find something overdue.
  if (
    exists (select from pgflow.step_tasks as t where t.status = 'started' and t.deadline <= v_now)
    or exists (select from pgflow.workers as w where w.stopped_at is null and w.expires_at <= v_now)
  ) and exists (select from pgflow.locks as l where l.name = 'expire_tasks' for update skip locked) then
    perform pgflow._expire_tasks(v_now);
  end if;

  -- The update joins nothing but its candidates: the run, the step and the dependencies' states are read
  -- by key in subqueries (see 020_cascade.sql). Joined, the claimed task was found by its run id alone
  -- (every task of the run read for each one claimed), the step by part of its key, the states by run.
  -- With flow_versions, a due task is claimed only when its run's version is listed for its flow: the flow is
  -- checked first (no read), then the run's version (one probe of the runs' key). Without it, the added test
  -- is one check of a null per due task read.
  return query
  with candidates as (
    select
      t.run_id, t.step_slug, t.task_index, t.flow_slug,
      (select r.flow_version from pgflow.runs as r where r.run_id = t.run_id) as flow_version
    from pgflow.step_tasks as t
    where t.status = 'queued'
      and t.visible_at <= v_now
      and (_poll_for_tasks.flow_slugs is null or t.flow_slug = any(_poll_for_tasks.flow_slugs))
      and (
        v_version_slugs is null
        or (
          t.flow_slug = any(v_version_slugs)
          and (v_versions -> t.flow_slug)
          @> pg_catalog.to_jsonb((select r.flow_version from pgflow.runs as r where r.run_id = t.run_id))
        )
      )
    order by t.visible_at
    limit _poll_for_tasks.max_tasks
    for update skip locked
  ),
  claimed as (
    update pgflow.step_tasks as t
    set
      status = 'started',
      attempt = t.attempt + 1,
      worker_id = _poll_for_tasks.worker_id,
      started_at = v_now,
      deadline = v_now + pgflow._seconds((
        select s.timeout
        from pgflow.steps as s
        where s.flow_slug = c.flow_slug and s.flow_version = c.flow_version and s.step_slug = c.step_slug
      ))
    from candidates as c
    where t.run_id = c.run_id and t.step_slug = c.step_slug and t.task_index = c.task_index
    returning
      t.run_id, t.flow_slug, t.step_slug, t.task_index, t.attempt, t.input, t.deadline, c.flow_version,
      (
        select s.step_type
        from pgflow.steps as s
        where s.flow_slug = c.flow_slug and s.flow_version = c.flow_version and s.step_slug = c.step_slug
      ) as step_type,
      (
        select s.deps_count
        from pgflow.steps as s
        where s.flow_slug = c.flow_slug and s.flow_version = c.flow_version and s.step_slug = c.step_slug
      ) as deps_count
  )
  select
    c.run_id,
    c.flow_slug,
    c.step_slug,
    c.task_index,
    c.attempt,
    case
      when c.step_type = 'map' then c.input
      when c.deps_count = 0 then (select r.input from pgflow.runs as r where r.run_id = c.run_id)
      else (
        -- each dependency's state in a subquery of its own (limit 1: the key is unique), so that it is not
        -- planned as a join
        select coalesce(pg_catalog.jsonb_object_agg(d.dep_slug, dep.output), '{}'::jsonb)
        from pgflow.deps as d
        cross join lateral (
          select ss.output
          from pgflow.step_states as ss
          where ss.run_id = c.run_id and ss.step_slug = d.dep_slug and ss.status = 'completed'
          limit 1
        ) as dep
        where d.flow_slug = c.flow_slug and d.flow_version = c.flow_version and d.step_slug = c.step_slug
      )
    end,
    case when _poll_for_tasks.with_flow_input then (select r.input from pgflow.runs as r where r.run_id = c.run_id) end,
    c.deadline
  from claimed as c;
end;
$$;

-- Called by workers: claims up to max_tasks due tasks and returns them with their inputs.
create or replace function pgflow.poll_for_tasks(
  worker_id text, flow_slugs text[] default null, max_tasks int default 10, flow_versions jsonb default null
)
returns setof pgflow.task
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  return query
  select * from pgflow._poll_for_tasks(
    poll_for_tasks.worker_id, poll_for_tasks.flow_slugs, poll_for_tasks.max_tasks, true, poll_for_tasks.flow_versions
  );
end;
$$;

comment on function pgflow.poll_for_tasks(text, text[], int, jsonb) is
'Claims up to max_tasks (0 to 10000) due tasks of the listed flows (null: any) with FOR UPDATE SKIP LOCKED and '
'returns them with their inputs. flow_versions {"flow_slug": [version, ...]}, when not null, claims only tasks of '
'runs of those flow versions (a flow absent from it is not claimed): a worker lists the versions whose steps it '
'has. Never blocks; expires overdue attempts first. PF005 for a worker_id that is not a text of 1 to 255 '
'characters, a null in flow_slugs, max_tasks out of range, or flow_versions of another shape.';

-- Called by workers that fetch run inputs only when a handler asks for one (the Python worker).
create or replace function pgflow.poll_for_tasks_lean(
  worker_id text, flow_slugs text[] default null, max_tasks int default 10, flow_versions jsonb default null
)
returns setof pgflow.task
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  return query
  select * from pgflow._poll_for_tasks(
    poll_for_tasks_lean.worker_id, poll_for_tasks_lean.flow_slugs, poll_for_tasks_lean.max_tasks, false,
    poll_for_tasks_lean.flow_versions
  );
end;
$$;

comment on function pgflow.poll_for_tasks_lean(text, text[], int, jsonb) is
'poll_for_tasks with flow_input left null: a worker that fetches run inputs with get_run_input when it needs '
'them saves sending a large run input with every task of a wide map. Same arguments and errors.';

-- Called by workers that poll without flow_input, when a handler asks for it.
create or replace function pgflow.get_run_input(run_id uuid)
returns jsonb
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_input jsonb;
begin
  perform pgflow._check_not_null('get_run_input', 'run_id', get_run_input.run_id is null);
  select r.input into v_input from pgflow.runs as r where r.run_id = get_run_input.run_id;
  if not found then
    raise exception using
      errcode = 'PF006',
      message = pg_catalog.format('run %s does not exist', get_run_input.run_id);
  end if;
  return v_input;
end;
$$;

comment on function pgflow.get_run_input(uuid) is 'The input of a run. PF006 for an unknown run.';
