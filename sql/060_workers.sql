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

-- Called by workers when they shut down. A worker that stops while still holding started tasks has
-- given them up: they count as failed attempts at once (retried or exhausted like any failure), except
-- any whose rows are busy at that moment, which wait for their deadline.
create or replace function pgflow.stop_worker(worker_id text)
returns void
language plpgsql
volatile
set search_path = ''
set enable_seqscan = off
as $$
declare
  v_now timestamptz := pgflow.now();
  v_task record;
begin
  update pgflow.workers as w
  set stopped_at = v_now
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
'Marks a worker stopped; the tasks it still holds count as failed attempts (they are retried).';
