-- Workers: registration, heartbeats, leases, and what a restart of the database server does to them.
--
-- A worker registers with heartbeat(), which records the worker's own timeout (given to it, or the setting
-- pgflow.worker_timeout of the worker's session) and the handlers it runs past their deadline. Its lease runs
-- until expires_at, and every heartbeat or poll renews it. When a lease ends, the next poll (or expire_tasks)
-- takes the worker's started tasks back. Liveness is judged only on time the database could hear the worker:
-- after a server restart, the first heartbeat or poll moves every lease and every deadline in flight later by
-- the time the engine heard nothing.

-- Called by heartbeat, poll_for_tasks and expire_tasks before they judge or renew any lease: notices a start
-- of the database server that no call has noticed yet and credits the workers with the time the engine heard
-- nothing before it — from the last sign of life it recorded (a heartbeat, a poll, a claim) to now. Leases
-- of running workers and deadlines of started attempts move that much later (rows busy at that moment are
-- being renewed or finished by their holders and are skipped). Costs one index probe when nothing restarted.
create or replace function pgflow._notice_server_start(now timestamptz)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_server_started_at timestamptz := pg_catalog.pg_postmaster_start_time();
  v_last_heard timestamptz;
  v_credit interval := interval '0';
begin
  if exists (select from pgflow.server_starts as s where s.server_started_at = v_server_started_at) then
    return;
  end if;
  perform from pgflow.locks as l where l.name = 'server_starts' for update;
  if exists (select from pgflow.server_starts as s where s.server_started_at = v_server_started_at) then
    return;  -- another session noticed it while this one waited
  end if;

  select greatest(
    (select pg_catalog.max(w.last_heartbeat_at) from pgflow.workers as w where w.stopped_at is null),
    (select pg_catalog.max(t.started_at) from pgflow.step_tasks as t where t.status = 'started')
  )
  into v_last_heard;
  if v_last_heard < _notice_server_start.now then
    v_credit := _notice_server_start.now - v_last_heard;

    update pgflow.workers as w
    set expires_at = w.expires_at + v_credit
    where w.worker_id in (
      select busy.worker_id from pgflow.workers as busy where busy.stopped_at is null for no key update skip locked
    );

    update pgflow.step_tasks as t
    set deadline = t.deadline + v_credit
    where (t.run_id, t.step_slug, t.task_index) in (
      select busy.run_id, busy.step_slug, busy.task_index
      from pgflow.step_tasks as busy
      where busy.status = 'started'
      for no key update skip locked
    );
  end if;

  insert into pgflow.server_starts (server_started_at, noticed_at, last_heard_at, credit)
  values (v_server_started_at, _notice_server_start.now, v_last_heard, v_credit)
  on conflict do nothing;
end;
$$;

-- Called by heartbeat for its past_deadline argument: PF005 unless the value is null or a JSON array of at most
-- 1,000 objects, each with exactly the keys run_id (a uuid), step_slug (a step slug), task_index (an integer
-- >= 0), attempt (an integer >= 1) and deadline (a timestamp with time zone, as text).
create or replace function pgflow._check_past_deadline(value jsonb)
returns void
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_item jsonb;
  v_ok boolean;
begin
  if _check_past_deadline.value is null then
    return;
  end if;
  v_ok := pg_catalog.jsonb_typeof(_check_past_deadline.value) = 'array'
    and pg_catalog.jsonb_array_length(_check_past_deadline.value) <= 1000;
  if v_ok then
    for v_item in select e.value from pg_catalog.jsonb_array_elements(_check_past_deadline.value) as e (value) loop
      v_ok := pg_catalog.jsonb_typeof(v_item) = 'object'
        and (select pg_catalog.array_agg(k.key order by k.key) from pg_catalog.jsonb_object_keys(v_item) as k (key))
        = array['attempt', 'deadline', 'run_id', 'step_slug', 'task_index']
        and pg_catalog.jsonb_typeof(v_item -> 'run_id') = 'string'
        and (v_item ->> 'run_id') ~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$'
        and pg_catalog.jsonb_typeof(v_item -> 'step_slug') = 'string'
        and (v_item ->> 'step_slug') ~ '^[a-zA-Z_][a-zA-Z0-9_]*$'
        and pg_catalog.length(v_item ->> 'step_slug') <= 128
        and pg_catalog.jsonb_typeof(v_item -> 'task_index') = 'number'
        and (v_item ->> 'task_index') ~ '^[0-9]{1,9}$'
        and pg_catalog.jsonb_typeof(v_item -> 'attempt') = 'number'
        and (v_item ->> 'attempt') ~ '^[1-9][0-9]{0,8}$'
        and pg_catalog.jsonb_typeof(v_item -> 'deadline') = 'string'
        and pg_catalog.length(v_item ->> 'deadline') <= 64;
      if v_ok then
        begin
          perform (v_item ->> 'deadline')::timestamptz;
        exception
          when others then
            v_ok := false;
        end;
      end if;
      exit when not v_ok;
    end loop;
  end if;
  if not v_ok then
    perform pgflow._bad_argument(
      'heartbeat', 'past_deadline',
      'null or a JSON array of at most 1,000 objects {"run_id", "step_slug", "task_index", "attempt", "deadline"}',
      coalesce(v_item, _check_past_deadline.value)::text
    );
  end if;
end;
$$;

-- Called by workers on start and then periodically, from a thread of their own.
create or replace function pgflow.heartbeat(
  worker_id text,
  flow_slugs text[] default null,
  worker_timeout interval default null,
  past_deadline jsonb default null
)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now timestamptz := pgflow.now();
  v_timeout interval;
  v_seconds numeric;
begin
  perform pgflow._check_name('heartbeat', 'worker_id', heartbeat.worker_id);
  perform pgflow._check_slugs('heartbeat', 'flow_slugs', heartbeat.flow_slugs, 'the flows it had');
  perform pgflow._check_past_deadline(heartbeat.past_deadline);
  if heartbeat.worker_timeout is null then
    v_timeout := pgflow.worker_timeout();
  else
    -- judged by the time it adds, as worker_timeout() judges the setting
    v_seconds := extract(epoch from v_now + heartbeat.worker_timeout) - extract(epoch from v_now);
    if v_seconds < 1 or v_seconds > 3600 then
      perform pgflow._bad_argument(
        'heartbeat', 'worker_timeout', 'null or an interval from 1 second to 1 hour', heartbeat.worker_timeout::text
      );
    end if;
    v_timeout := pg_catalog.make_interval(secs => v_seconds::double precision);
  end if;
  perform pgflow._notice_server_start(v_now);

  insert into pgflow.workers as w (
    worker_id, flow_slugs, started_at, last_heartbeat_at, worker_timeout, expires_at, past_deadline
  )
  values (
    heartbeat.worker_id, heartbeat.flow_slugs, v_now, v_now, v_timeout, v_now + v_timeout,
    coalesce(heartbeat.past_deadline, '[]')
  )
  on conflict on constraint workers_pkey do update
  set
    flow_slugs = coalesce(excluded.flow_slugs, w.flow_slugs),
    last_heartbeat_at = excluded.last_heartbeat_at,
    worker_timeout = excluded.worker_timeout,
    expires_at = excluded.expires_at,
    past_deadline = case
      when heartbeat.past_deadline is not null then excluded.past_deadline
      when w.stopped_at is null then w.past_deadline
      else '[]'
    end,
    started_at = case when w.stopped_at is null then w.started_at else excluded.started_at end,
    stopped_at = null;
end;
$$;

comment on function pgflow.heartbeat(text, text[], interval, jsonb) is
'Registers a worker or renews its lease. worker_timeout: the worker''s own timeout, 1 second to 1 hour (null: this '
'session''s pgflow.worker_timeout); a worker that neither polls nor beats for that long loses its started tasks. '
'past_deadline: the handlers the worker still runs past their deadline, a JSON array of at most 1,000 objects '
'{"run_id": uuid, "step_slug": text, "task_index": int >= 0, "attempt": int >= 1, "deadline": timestamptz text}, '
'stored in pgflow.workers.past_deadline (null: unchanged; [] after a stop). PF005 for a worker_id that is not a '
'text of 1 to 255 characters, a null in flow_slugs, a worker_timeout out of range (or a bad '
'pgflow.worker_timeout when it is null), or a past_deadline of another shape.';

-- Called by workers when they shut down. A worker that stops while still holding started tasks has
-- given them up: they count as failed attempts at once (retried or exhausted like any failure), except
-- any whose rows are busy at that moment, which wait for their deadline.
create or replace function pgflow.stop_worker(worker_id text)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
declare
  v_now timestamptz := pgflow.now();
  v_task record;
begin
  perform pgflow._check_name('stop_worker', 'worker_id', stop_worker.worker_id);
  -- a stopped worker runs no handler: what it said was past its deadline is cleared
  update pgflow.workers as w
  set stopped_at = v_now, past_deadline = '[]'
  where w.worker_id = stop_worker.worker_id and w.stopped_at is null;

  for v_task in
    select t.run_id, t.step_slug, t.task_index, t.attempt
    from pgflow.step_tasks as t
    where t.worker_id = stop_worker.worker_id and t.status = 'started'
    order by t.run_id, t.step_slug, t.task_index
  loop
    perform pgflow._fail_attempt(
      v_task.run_id, v_task.step_slug, v_task.task_index,
      pg_catalog.format(
        'attempt %s timed out: worker %L stopped without reporting it', v_task.attempt, stop_worker.worker_id
      ),
      v_task.attempt, v_now, wait => false
    );
  end loop;
end;
$$;

comment on function pgflow.stop_worker(text) is
'Marks a worker stopped and clears its past_deadline (it runs no handler any more); the tasks it still holds count '
'as failed attempts (they are retried). PF005 for a worker_id that is not a text of 1 to 255 characters.';

-- Called by `pgflow start --wait` (any client that wants to know whether a run can progress): how many live
-- workers serve a version of a flow. Reads pgflow.workers for roles that may not (producers).
create or replace function pgflow.live_workers(flow_slug text, flow_version int default null)
returns int
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_version int := live_workers.flow_version;
begin
  if live_workers.flow_slug is null or live_workers.flow_slug !~ '^[a-zA-Z_][a-zA-Z0-9_]*$'
     or pg_catalog.length(live_workers.flow_slug) > 128 then
    perform pgflow._bad_argument(
      'live_workers', 'flow_slug', 'a flow slug (1 to 128 letters, digits and underscores, not starting with a digit)',
      live_workers.flow_slug
    );
  end if;
  if v_version < 1 then
    perform pgflow._bad_argument('live_workers', 'flow_version', 'null or a positive integer', v_version::text);
  end if;
  if v_version is null then
    select f.version into v_version from pgflow.flows as f where f.flow_slug = live_workers.flow_slug and f.is_current;
    if not found then
      raise exception using
        errcode = 'PF004',
        message = pg_catalog.format('flow %s does not exist', pgflow._shown(live_workers.flow_slug));
    end if;
  end if;
  return (
    select pg_catalog.count(*)::int
    from pgflow.workers as w
    where w.stopped_at is null and w.expires_at > pgflow.now()
      and (w.flow_slugs is null or live_workers.flow_slug = any(w.flow_slugs))
      and (
        w.flow_versions is null
        or coalesce(w.flow_versions -> live_workers.flow_slug, '[]'::jsonb) @> pg_catalog.to_jsonb(v_version)
      )
  );
end;
$$;

comment on function pgflow.live_workers(text, int) is
'How many workers serve version flow_version of flow flow_slug now (null: the flow''s current version): not '
'stopped, lease (expires_at) later than pgflow.now(), flow_slugs null or holding the flow, and flow_versions (the '
'versions their last poll claimed) null or listing that version for the flow. PF005 for a flow_slug that is not a '
'slug or a flow_version below 1; PF004 for an unknown flow when flow_version is null.';
