-- The worker protocol, claiming side: poll_for_tasks and the expiry of overdue work.
--
-- A claim reads due queued tasks from partial indexes (finished and delayed tasks are not in them, so the claim
-- does not slow down as history grows): the flow-controlled buckets first (step_tasks_flow_controlled, bucket by
-- bucket, within their caps and rate windows), then the main queue (step_tasks_ready, one statement), each in the
-- order priority desc, fair_round, visible_at. Tasks are locked with FOR UPDATE SKIP LOCKED (concurrent pollers
-- never receive the same task and never wait on each other), and their inputs are built from the stored outputs of
-- their dependencies.

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
declare
  v_error text;
  v_child uuid;
begin
  -- a wait step's deadline: the step fails without retry (023_wait_steps.sql)
  if _expire_attempt.worker_id is null
     and pgflow._is_wait_step(_expire_attempt.run_id, _expire_attempt.step_slug) then
    return pgflow._expire_wait(
      _expire_attempt.run_id, _expire_attempt.step_slug, _expire_attempt.task_index, _expire_attempt.attempt,
      _expire_attempt.now, _expire_attempt.wait
    );
  end if;
  -- an engine-held task: a sub-flow task's timeout (sql/024_subflows.sql); its child run is cancelled, unless it
  -- finished in time and only its settling was left for later: then it is settled
  if _expire_attempt.worker_id is null then
    v_child := (
      select r.run_id
      from pgflow.runs as r
      where r.parent_run_id = _expire_attempt.run_id and r.parent_step_slug = _expire_attempt.step_slug
        and r.parent_task_index = _expire_attempt.task_index and r.parent_attempt = _expire_attempt.attempt
        and r.finished_at is not null and r.finished_at <= _expire_attempt.deadline and r.parent_settled_at is null
      limit 1
      for no key update skip locked
    );
    if v_child is not null then
      return pgflow._settle_child(v_child, _expire_attempt.now, wait => _expire_attempt.wait);
    end if;
    v_error := pgflow._subflow_timeout_error(
      _expire_attempt.run_id, _expire_attempt.step_slug, _expire_attempt.task_index, _expire_attempt.attempt
    );
  end if;
  return pgflow._fail_attempt(
    _expire_attempt.run_id,
    _expire_attempt.step_slug,
    _expire_attempt.task_index,
    case
      when v_error is not null then v_error
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

-- Called by schedulers that want expiry (and finished child runs settled, due schedules started) without polling
-- (poll_for_tasks does all three).
-- Takes the same lock as the pollers' expiry pass, so the two never work at the same time.
create or replace function pgflow.expire_tasks()
returns int
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now timestamptz := pgflow.now();
  v_expired int;
begin
  perform pgflow._notice_server_start(v_now);
  if exists (
    select from pgflow.runs as r
    where r.parent_run_id is not null and r.finished_at is not null and r.parent_settled_at is null
  ) then
    perform pgflow._settle_children(v_now);
  end if;
  perform from pgflow.locks as l where l.name = 'expire_tasks' for update;
  v_expired := pgflow._expire_tasks(v_now);
  if exists (select from pgflow.schedules as s where s.next_tick <= v_now) then
    perform pgflow._start_due_schedules(v_now);
  end if;
  return v_expired;
end;
$$;

comment on function pgflow.expire_tasks() is
'Counts overdue attempts (past their deadline, or held by a worker that neither polled nor beat for its own '
'timeout) as failed and retries or exhausts them; also settles finished child runs whose parent task has not taken '
'their result, and starts the runs of due schedules (as polls do). Returns how many attempts it expired.';

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

-- Called by _poll_for_tasks when a delayed task (a start_delay, a retry's backoff) has become due: up to 1,000
-- of them, oldest due first, enter the fair queue of their priority (their bucket's, for flow-controlled tasks) at
-- its smallest round, one round per task of a step. Rows busy elsewhere are left for the next poll.
create or replace function pgflow._make_due(now timestamptz)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  with due as (
    select t.run_id, t.step_slug, t.task_index, t.priority, t.flow_slug, t.flow_key
    from pgflow.step_tasks as t
    where t.status = 'queued' and t.fair_round is null and t.visible_at <= _make_due.now
    order by t.visible_at
    limit 1000
    for update skip locked
  ),
  numbered as (
    select
      due.run_id, due.step_slug, due.task_index, due.priority, due.flow_slug, due.flow_key,
      pg_catalog.row_number() over (partition by due.run_id, due.step_slug order by due.task_index) - 1 as ordinal
    from due
  ),
  -- (materialized: inlined, it was computed again for each task)
  bases as materialized (
    select p.priority, pgflow._fair_round_base(p.priority, null, null) as base
    from (select distinct due.priority from due) as p
  )
  update pgflow.step_tasks as t
  set fair_round = n.ordinal + case
    when n.flow_key is null then (select b.base from bases as b where b.priority = n.priority)
    else pgflow._fair_round_base(n.priority, n.flow_slug, n.flow_key)
  end
  from numbered as n
  where t.run_id = n.run_id and t.step_slug = n.step_slug and t.task_index = n.task_index;
end;
$$;

-- Called by _claim_flow_controlled: the first flow after the given slug that has due flow-controlled tasks, or
-- null (one probe of step_tasks_flow_controlled).
create or replace function pgflow._next_controlled_flow(after_slug text)
returns text
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
  return (
    select t.flow_slug
    from pgflow.step_tasks as t
    where t.status = 'queued' and t.fair_round is not null and t.flow_key is not null
      and t.flow_slug > _next_controlled_flow.after_slug
    order by t.flow_slug
    limit 1
  );
end;
$$;

-- Called by _claim_flow_controlled: the bucket of the flow after the given one (flow_key order) that has due tasks,
-- or null (one probe of step_tasks_flow_controlled).
create or replace function pgflow._next_bucket(flow_slug text, after_key text)
returns text
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
  return (
    select t.flow_key
    from pgflow.step_tasks as t
    where t.status = 'queued' and t.fair_round is not null and t.flow_key is not null
      and t.flow_slug = _next_bucket.flow_slug and t.flow_key > _next_bucket.after_key
    order by t.flow_slug, t.flow_key
    limit 1
  );
end;
$$;

-- Called by _claim_flow_controlled: a step's flow control in its flow's current version, as (controlled, concurrency,
-- concurrency_key, rate_limit); controlled is false when the step has none there (or is not in that version).
create or replace function pgflow._current_flow_control(
  flow_slug text, step_slug text,
  out controlled boolean, out concurrency int, out concurrency_key text[], out rate_limit jsonb
)
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
  select true, s.concurrency, s.concurrency_key, s.rate_limit
  into controlled, concurrency, concurrency_key, rate_limit
  from pgflow.flows as f
  inner join pgflow.steps as s
    on s.flow_slug = f.flow_slug and s.flow_version = f.version and s.step_slug = _current_flow_control.step_slug
  where f.flow_slug = _current_flow_control.flow_slug and f.is_current
    and (s.concurrency is not null or s.rate_limit is not null);
  controlled := coalesce(controlled, false);
end;
$$;

-- Called by _claim_flow_controlled: whether a bucket may take one more task now: fewer started tasks than the
-- concurrency (when there is one), and fewer claims than rate_limit.limit in its current rate window (when there is
-- one; a window that has ended counts none). bucket is its row (all nulls when it has none yet).
create or replace function pgflow._bucket_has_room(
  concurrency int, rate_limit jsonb, started int, bucket pgflow.flow_buckets, now timestamptz
)
returns boolean
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select
    (_bucket_has_room.concurrency is null or _bucket_has_room.started < _bucket_has_room.concurrency)
    and (
      _bucket_has_room.rate_limit is null or (_bucket_has_room.bucket).window_started_at is null
      or (_bucket_has_room.bucket).window_claims < (_bucket_has_room.rate_limit ->> 'limit')::int
      or _bucket_has_room.now
      >= (_bucket_has_room.bucket).window_started_at + pgflow._seconds((_bucket_has_room.rate_limit ->> 'per')::numeric)
    )
$$;

-- Called by _poll_for_tasks when due flow-controlled tasks exist: claims up to max_tasks of them (of priority
-- min_priority or more, when it is not null), bucket by bucket, and returns their keys. Only the flows the poller
-- serves are walked (flow_slugs, flow_versions): other flows' buckets cost it nothing. In each flow, the buckets with
-- due tasks are walked in flow_key order (one probe of step_tasks_flow_controlled per bucket) from a random place,
-- wrapping around, and the flows from a random one, so that every bucket is served in turn whatever the number of
-- pollers; the walk visits every bucket once at most and ends when the batch is full, so a poll never comes back
-- empty while a bucket of a served flow has room. A bucket that looks full (its started tasks, its rate window, read
-- without a lock) costs two index probes and no lock. A bucket is claimed from by one poller at a time: the poller
-- locks its row of pgflow.flow_buckets FOR UPDATE SKIP LOCKED (a busy bucket is passed over). Then, in statements of
-- their own, which see what the bucket's previous claimer committed, it takes at most
--   concurrency - (the bucket's tasks started now)                   when the step has a concurrency,
--   rate_limit.limit - (claims in the bucket's current rate window)   when it has a rate_limit,
-- of the bucket's due tasks (highest priority, then fair round, then oldest first), and records the claim on the
-- row (updated at every claim: a REPEATABLE READ or SERIALIZABLE caller that could not see an earlier claim gets a
-- serialization failure rather than claim too many). The cap counts started tasks, so whatever ends an attempt
-- (completion, failure, expiry, cancellation) frees its slot with nothing else to keep. A rate window starts at the
-- first claim after the previous one ended. Cap and rate are the step's in the flow's current version (so that
-- lowering a cap in a new version applies to the tasks of older runs too), or, when the step has no flow control
-- there, in the version of the bucket's first due task. A bucket's row is inserted at its first claim. Such an insert
-- waits for a concurrent insert of the same row to commit, so a call inserts rows in increasing (flow_slug,
-- flow_key) order only (after wrapping around, a bucket whose row is missing and that comes before the last one
-- inserted waits for the next call): pollers waiting for each other's inserts never wait in a circle.
create or replace function pgflow._claim_flow_controlled(
  worker_id text, flow_slugs text[], max_tasks int, versions jsonb, version_slugs text[], now timestamptz,
  min_priority int
)
returns table (run_id uuid, step_slug text, task_index int)
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_flows text[];
  v_flow text;
  v_first int;
  v_start text;
  v_key text;
  v_wrapped boolean;
  v_inserted_flow text;
  v_inserted_key text;
  v_left int := _claim_flow_controlled.max_tasks;
  v_min_priority int := coalesce(_claim_flow_controlled.min_priority, -2147483648);
  v_head record;
  v_step record;
  v_bucket pgflow.flow_buckets;
  v_started int;
  v_reset boolean;
  v_take int;
  v_claimed int;
  v_full boolean;
  v_checked boolean;
begin
  -- the flows to walk: those the poller serves, else every flow with due flow-controlled tasks
  if _claim_flow_controlled.flow_slugs is not null or _claim_flow_controlled.version_slugs is not null then
    v_flows := array(
      select distinct f.slug
      from pg_catalog.unnest(coalesce(_claim_flow_controlled.flow_slugs, _claim_flow_controlled.version_slugs))
        as f (slug)
      where _claim_flow_controlled.version_slugs is null or f.slug = any(_claim_flow_controlled.version_slugs)
      order by f.slug
    );
  else
    v_flows := array(
      with recursive walk (slug) as (
        select pgflow._next_controlled_flow('')
        union all
        select pgflow._next_controlled_flow(w.slug) from walk as w where w.slug is not null
      )
      select w.slug from walk as w where w.slug is not null
    );
  end if;
  if pg_catalog.cardinality(v_flows) = 0 then
    return;
  end if;
  v_first := pg_catalog.floor(pg_catalog.random() * pg_catalog.cardinality(v_flows))::int;

  for v_i in 0 .. pg_catalog.cardinality(v_flows) - 1 loop
    exit when v_left <= 0;
    v_flow := v_flows[1 + (v_first + v_i) % pg_catalog.cardinality(v_flows)];
    v_start := pg_catalog.md5(pg_catalog.random()::text);
    v_wrapped := false;
    v_key := pgflow._next_bucket(v_flow, v_start);
    if v_key is null then
      v_wrapped := true;
      v_key := pgflow._next_bucket(v_flow, '');
    end if;

    while v_key is not null and v_left > 0 loop
      -- A bucket seen before (its row holds its step) whose step's current version caps it, and that looks full
      -- (its started tasks, its rate window, read without a lock), is passed over at the cost of three index probes.
      -- (checked: the bucket's room is known, and is not read again below before the lock)
      select b.* into v_bucket from pgflow.flow_buckets as b where b.flow_key = v_key;
      v_full := false;
      v_checked := false;
      if found then
        v_step := pgflow._current_flow_control(v_flow, v_bucket.step_slug);
        if v_step.controlled then
          select pg_catalog.count(*)::int into v_started
          from pgflow.step_tasks as t
          where t.status = 'started' and t.flow_key = v_key;
          v_full := not pgflow._bucket_has_room(
            v_step.concurrency, v_step.rate_limit, v_started, v_bucket, _claim_flow_controlled.now
          );
          v_checked := true;
        end if;
      end if;

      -- the bucket's first due task this poller may claim (flow_versions, min_priority), for its step version
      if not v_full then
        select t.flow_slug, t.step_slug, r.flow_version, r.input into v_head
        from pgflow.step_tasks as t
        cross join lateral (
          select r.flow_version, r.input from pgflow.runs as r where r.run_id = t.run_id limit 1
        ) as r
        where t.status = 'queued' and t.fair_round is not null and t.flow_slug = v_flow and t.flow_key = v_key
          and t.priority >= v_min_priority
          and t.visible_at <= _claim_flow_controlled.now
          and (
            _claim_flow_controlled.version_slugs is null
            or (_claim_flow_controlled.versions -> t.flow_slug) @> pg_catalog.to_jsonb(r.flow_version)
          )
        order by t.flow_slug, t.flow_key, t.priority desc, t.fair_round, t.visible_at
        limit 1;
      end if;

      if not v_full and found then
        -- a bucket not checked above (no row yet, or no flow control in the current version): the step's flow
        -- control in the current version, else in the version of its first due task, and its room
        if not v_checked then
          v_step := pgflow._current_flow_control(v_head.flow_slug, v_head.step_slug);
          if not v_step.controlled then
            select true as controlled, s.concurrency, s.concurrency_key, s.rate_limit into v_step
            from pgflow.steps as s
            where s.flow_slug = v_head.flow_slug and s.flow_version = v_head.flow_version
              and s.step_slug = v_head.step_slug;
          end if;
          select pg_catalog.count(*)::int into v_started
          from pgflow.step_tasks as t
          where t.status = 'started' and t.flow_key = v_key;
        end if;
        if v_checked or pgflow._bucket_has_room(
          v_step.concurrency, v_step.rate_limit, v_started, v_bucket, _claim_flow_controlled.now
        ) then
          select b.* into v_bucket from pgflow.flow_buckets as b where b.flow_key = v_key for update skip locked;
          if not found and (
            v_inserted_flow is null or (v_flow, v_key) > (v_inserted_flow, v_inserted_key)
          ) and not exists (
            select from pgflow.flow_buckets as b where b.flow_key = v_key
          ) then
            v_inserted_flow := v_flow;
            v_inserted_key := v_key;
            insert into pgflow.flow_buckets (flow_key, flow_slug, step_slug, key)
            values (v_key, v_head.flow_slug, v_head.step_slug, v_head.input #> v_step.concurrency_key)
            on conflict do nothing;
            select b.* into v_bucket from pgflow.flow_buckets as b where b.flow_key = v_key for update skip locked;
          end if;

          if found then
            -- (a statement of its own, after the lock: it sees the claims the bucket's previous claimer committed)
            select pg_catalog.count(*)::int into v_started
            from pgflow.step_tasks as t
            where t.status = 'started' and t.flow_key = v_key;

            v_reset := v_step.rate_limit is null or v_bucket.window_started_at is null
              or _claim_flow_controlled.now
              >= v_bucket.window_started_at + pgflow._seconds((v_step.rate_limit ->> 'per')::numeric);
            -- (least ignores nulls: a step without concurrency or rate_limit has no such bound)
            v_take := least(
              v_left,
              v_step.concurrency - v_started,
              (v_step.rate_limit ->> 'limit')::int - case when v_reset then 0 else v_bucket.window_claims end
            );

            if v_take > 0 then
              return query
              with candidates as (
                select
                  t.run_id, t.step_slug, t.task_index, t.flow_slug,
                  (select r.flow_version from pgflow.runs as r where r.run_id = t.run_id) as flow_version
                from pgflow.step_tasks as t
                where t.status = 'queued' and t.fair_round is not null and t.flow_slug = v_flow and t.flow_key = v_key
                  and t.priority >= v_min_priority
                  and t.visible_at <= _claim_flow_controlled.now
                  and (
                    _claim_flow_controlled.version_slugs is null
                    or (_claim_flow_controlled.versions -> t.flow_slug)
                    @> pg_catalog.to_jsonb((select r.flow_version from pgflow.runs as r where r.run_id = t.run_id))
                  )
                order by t.flow_slug, t.flow_key, t.priority desc, t.fair_round, t.visible_at
                limit v_take
                for update skip locked
              ),
              claimed as (
                update pgflow.step_tasks as t
                set
                  status = 'started',
                  attempt = t.attempt + 1,
                  worker_id = _claim_flow_controlled.worker_id,
                  started_at = _claim_flow_controlled.now,
                  deadline = _claim_flow_controlled.now + pgflow._seconds((
                    select s.timeout
                    from pgflow.steps as s
                    where s.flow_slug = c.flow_slug and s.flow_version = c.flow_version and s.step_slug = c.step_slug
                  ))
                from candidates as c
                where t.run_id = c.run_id and t.step_slug = c.step_slug and t.task_index = c.task_index
                returning t.run_id, t.step_slug, t.task_index
              )
              select claimed.run_id, claimed.step_slug, claimed.task_index from claimed;
              get diagnostics v_claimed = row_count;

              if v_claimed > 0 then
                v_left := v_left - v_claimed;
                update pgflow.flow_buckets as b
                set
                  window_started_at = case when v_reset then _claim_flow_controlled.now else b.window_started_at end,
                  window_claims = case when v_reset then v_claimed else b.window_claims + v_claimed end,
                  last_claimed_at = _claim_flow_controlled.now
                where b.flow_key = v_key;
              end if;
            end if;
          end if;
        end if;
      end if;

      -- the next bucket of the flow, wrapping around once, up to where the walk started
      v_key := pgflow._next_bucket(v_flow, v_key);
      if v_key is null and not v_wrapped then
        v_wrapped := true;
        v_key := pgflow._next_bucket(v_flow, '');
      end if;
      if v_wrapped and v_key >= v_start then
        v_key := null;
      end if;
    end loop;
  end loop;
end;
$$;

-- Called by poll_for_tasks and poll_for_tasks_lean: claims up to max_tasks due tasks and returns them
-- with their inputs (and the run input as flow_input, unless with_flow_input is false). flow_versions, when
-- not null, limits the claim to tasks of runs of the listed flow versions: a worker claims only the versions
-- whose definitions equal its code (flows absent from the object are not claimed at all).
-- In order: delayed tasks that became due enter the fair queue (_make_due); the flow-controlled buckets are
-- served (_claim_flow_controlled); the rest of the batch comes from the main queue; inputs are built for all.
create or replace function pgflow._poll_for_tasks(
  worker_id text, flow_slugs text[], max_tasks int, with_flow_input boolean, flow_versions jsonb
)
returns setof pgflow.task
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
-- Every statement of the poll (and of the functions it calls) reads by index, in the index's order. PL/pgSQL caches
-- plans: one made while the tables were small and analyzed so (a new deployment) would stay a sequential scan, or a
-- bitmap scan of every flow-controlled task to find the next bucket, as the tables grow, until the next ANALYZE
-- (tests_py/test_claim_plans.py shows both).
set enable_seqscan = off
set enable_bitmapscan = off
as $$
declare
  v_now timestamptz := pgflow.now();
  v_function text := case when _poll_for_tasks.with_flow_input then 'poll_for_tasks' else 'poll_for_tasks_lean' end;
  v_versions jsonb;
  v_version_slugs text[];
  v_runs uuid[] := '{}'::uuid[];
  v_steps text[] := '{}'::text[];
  v_indexes int[] := '{}'::int[];
  v_top int;
  v_room int;
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

  -- Finished child runs whose parent task has not taken their result yet (sub-flows, sql/024_subflows.sql): one
  -- probe of runs_to_settle, empty when idle. Before expiry, so that a child run that finished in time is never
  -- taken for a sub-flow task's timeout.
  if exists (
    select from pgflow.runs as r
    where r.parent_run_id is not null and r.finished_at is not null and r.parent_settled_at is null
  ) then
    perform pgflow._settle_children(v_now);
  end if;

  -- Expiry needs no cron job: pollers take turns doing it (one at a time, the others skip it), when
  -- two index probes find something overdue.
  if (
    exists (select from pgflow.step_tasks as t where t.status = 'started' and t.deadline <= v_now)
    or exists (select from pgflow.workers as w where w.stopped_at is null and w.expires_at <= v_now)
  ) and exists (select from pgflow.locks as l where l.name = 'expire_tasks' for update skip locked) then
    perform pgflow._expire_tasks(v_now);
  end if;

  -- Schedules whose tick has come start their runs (one probe of schedules_next_tick finds whether any has).
  if exists (select from pgflow.schedules as s where s.next_tick <= v_now) then
    perform pgflow._start_due_schedules(v_now);
  end if;

  -- Delayed tasks that became due join the fair queue (one probe of step_tasks_delayed finds whether any did).
  if exists (
    select from pgflow.step_tasks as t where t.status = 'queued' and t.fair_round is null and t.visible_at <= v_now
  ) then
    perform pgflow._make_due(v_now);
  end if;

  -- Flow-controlled buckets (one probe of step_tasks_flow_controlled finds whether any has due tasks), in priority
  -- order with the main queue: first their tasks of the main queue's highest priority (among the flows served) or
  -- more; then, when the main queue holds fewer due tasks than the batch has room for, lower ones for the difference.
  if _poll_for_tasks.max_tasks > 0 and exists (
    select from pgflow.step_tasks as t where t.status = 'queued' and t.fair_round is not null and t.flow_key is not null
  ) then
    v_top := (
      select t.priority
      from pgflow.step_tasks as t
      where t.status = 'queued' and t.fair_round is not null and t.flow_key is null
        and (_poll_for_tasks.flow_slugs is null or t.flow_slug = any(_poll_for_tasks.flow_slugs))
      order by t.priority desc, t.fair_round, t.visible_at
      limit 1
    );
    select
      coalesce(pg_catalog.array_agg(c.run_id), '{}'::uuid[]),
      coalesce(pg_catalog.array_agg(c.step_slug), '{}'::text[]),
      coalesce(pg_catalog.array_agg(c.task_index), '{}'::int[])
    into v_runs, v_steps, v_indexes
    from pgflow._claim_flow_controlled(
      _poll_for_tasks.worker_id, _poll_for_tasks.flow_slugs, _poll_for_tasks.max_tasks, v_versions, v_version_slugs,
      v_now, v_top
    ) as c;
    if v_top is not null and pg_catalog.cardinality(v_runs) < _poll_for_tasks.max_tasks then
      v_room := _poll_for_tasks.max_tasks - pg_catalog.cardinality(v_runs) - (
        select pg_catalog.count(*)::int
        from (
          select
          from pgflow.step_tasks as t
          where t.status = 'queued' and t.fair_round is not null and t.flow_key is null
            and (_poll_for_tasks.flow_slugs is null or t.flow_slug = any(_poll_for_tasks.flow_slugs))
          order by t.priority desc, t.fair_round, t.visible_at
          limit _poll_for_tasks.max_tasks - pg_catalog.cardinality(v_runs)
        ) as main
      );
      if v_room > 0 then
        select
          v_runs || coalesce(pg_catalog.array_agg(c.run_id), '{}'::uuid[]),
          v_steps || coalesce(pg_catalog.array_agg(c.step_slug), '{}'::text[]),
          v_indexes || coalesce(pg_catalog.array_agg(c.task_index), '{}'::int[])
        into v_runs, v_steps, v_indexes
        from pgflow._claim_flow_controlled(
          _poll_for_tasks.worker_id, _poll_for_tasks.flow_slugs, v_room, v_versions, v_version_slugs, v_now, null
        ) as c;
      end if;
    end if;
  end if;

  -- The main queue, for the rest of the batch: step_tasks_ready in its order (priority desc, fair_round,
  -- visible_at), read from its start and stopped after the batch, so neither finished tasks nor the length of
  -- the queue cost anything. The update joins nothing but its candidates: the run, the step and the
  -- dependencies' states are read by key in subqueries (see 020_cascade.sql). Joined, the claimed task was found
  -- by its run id alone (every task of the run read for each one claimed), the step by part of its key, the states
  -- by run. With flow_versions, a due task is claimed only when its run's version is listed for its flow: the flow
  -- is checked first (no read), then the run's version (one probe of the runs' key). Without it, the added test is
  -- one check of a null per due task read.
  return query
  with candidates as (
    select
      t.run_id, t.step_slug, t.task_index, t.flow_slug,
      (select r.flow_version from pgflow.runs as r where r.run_id = t.run_id) as flow_version
    from pgflow.step_tasks as t
    where t.status = 'queued' and t.fair_round is not null and t.flow_key is null
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
    order by t.priority desc, t.fair_round, t.visible_at
    limit _poll_for_tasks.max_tasks - pg_catalog.cardinality(v_runs)
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
    returning t.run_id, t.flow_slug, t.step_slug, t.task_index, t.attempt, t.input, t.deadline, c.flow_version
  ),
  -- the flow-controlled tasks claimed above, by key
  claimed_in_buckets as (
    select t.run_id, t.flow_slug, t.step_slug, t.task_index, t.attempt, t.input, t.deadline, r.flow_version
    from rows from (pg_catalog.unnest(v_runs), pg_catalog.unnest(v_steps), pg_catalog.unnest(v_indexes))
      as k (run_id, step_slug, task_index)
    cross join lateral (
      select t.run_id, t.flow_slug, t.step_slug, t.task_index, t.attempt, t.input, t.deadline
      from pgflow.step_tasks as t
      where t.run_id = k.run_id and t.step_slug = k.step_slug and t.task_index = k.task_index
      limit 1
    ) as t
    cross join lateral (
      select r.flow_version from pgflow.runs as r where r.run_id = k.run_id limit 1
    ) as r
  ),
  all_claimed as (
    select
      c.run_id, c.flow_slug, c.step_slug, c.task_index, c.attempt, c.input, c.deadline, c.flow_version,
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
    from (
      select b.* from claimed_in_buckets as b
      union all
      select m.* from claimed as m
    ) as c
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
  from all_claimed as c;
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
