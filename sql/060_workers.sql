-- Workers: registration and heartbeats. poll_for_tasks expires the started tasks of a worker whose
-- heartbeat is older than pgflow.worker_timeout.

-- Called by workers on start and then periodically, from a thread of their own.
create or replace function pgflow.heartbeat(worker_id text, flow_slugs text[] default null)
returns void
language sql
volatile
set search_path = ''
as $$
  insert into pgflow.workers as w (worker_id, flow_slugs, started_at, last_heartbeat_at)
  values (heartbeat.worker_id, heartbeat.flow_slugs, pgflow.now(), pgflow.now())
  on conflict (worker_id) do update
  set
    flow_slugs = coalesce(excluded.flow_slugs, w.flow_slugs),
    last_heartbeat_at = excluded.last_heartbeat_at,
    started_at = case when w.stopped_at is null then w.started_at else excluded.started_at end,
    stopped_at = null
$$;

comment on function pgflow.heartbeat(text, text[]) is
'Registers a worker or refreshes its heartbeat. A worker silent for pgflow.worker_timeout loses its started tasks.';

-- Called by workers when they shut down.
create or replace function pgflow.stop_worker(worker_id text)
returns void
language sql
volatile
set search_path = ''
as $$
  update pgflow.workers as w
  set stopped_at = pgflow.now()
  where w.worker_id = stop_worker.worker_id and w.stopped_at is null
$$;

comment on function pgflow.stop_worker(text) is 'Marks a worker stopped.';
