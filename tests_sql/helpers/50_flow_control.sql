-- Helpers for the tests of flow control (concurrency, rate limits, priorities, fairness).

-- How many tasks of a flow are started now.
create or replace function pgflow_tests.started_count(flow_slug text)
returns int
language sql
stable
as $$
  select pg_catalog.count(*)::int from pgflow.step_tasks as t
  where t.flow_slug = started_count.flow_slug and t.status = 'started'
$$;

-- Polls a flow (batches of max_tasks) until a poll claims nothing, at most max_polls times; returns how many tasks
-- were claimed in all. The claim may take a few polls to reach every bucket (see _claim_flow_controlled).
create or replace function pgflow_tests.poll_all(flow_slug text, max_tasks int default 10, max_polls int default 20)
returns int
language plpgsql
volatile
as $$
declare
  v_total int := 0;
  v_claimed int;
begin
  for i in 1 .. poll_all.max_polls loop
    select pg_catalog.count(*)::int into v_claimed from pgflow_tests.poll(poll_all.flow_slug, poll_all.max_tasks);
    exit when v_claimed = 0;
    v_total := v_total + v_claimed;
  end loop;
  return v_total;
end;
$$;

-- Completes every started task of a flow (output null); returns how many.
create or replace function pgflow_tests.complete_started(flow_slug text)
returns int
language sql
volatile
as $$
  select pg_catalog.count(*)::int
  from pgflow.step_tasks as t
  cross join lateral pgflow.complete_task(t.run_id, t.step_slug, t.task_index, 'null'::jsonb, t.attempt) as c (ok)
  where t.flow_slug = complete_started.flow_slug and t.status = 'started' and c.ok
$$;

-- Polls a flow and completes what it claimed, rounds times; returns the largest number of tasks of one
-- flow-control bucket started at once seen after a poll.
create or replace function pgflow_tests.work_through(flow_slug text, max_tasks int default 10, rounds int default 20)
returns int
language plpgsql
volatile
as $$
declare
  v_max int := 0;
begin
  for i in 1 .. work_through.rounds loop
    perform from pgflow_tests.poll(work_through.flow_slug, work_through.max_tasks);
    v_max := greatest(v_max, (
      select pg_catalog.max(b.n)
      from (
        select pg_catalog.count(*)::int as n
        from pgflow.step_tasks as t
        where t.flow_slug = work_through.flow_slug and t.status = 'started' and t.flow_key is not null
        group by t.flow_key
      ) as b
    ));
    perform pgflow_tests.complete_started(work_through.flow_slug);
  end loop;
  return v_max;
end;
$$;
