-- Core helpers for the pgTAP suite (schema pgflow_tests). Every test file runs in one transaction
-- and rolls back, so helpers may write freely. Time is controlled through pgflow.fake_now.

-- Sets the engine's clock for the rest of the transaction.
create or replace function pgflow_tests.set_now(ts timestamptz)
returns timestamptz
language sql
volatile
as $$
  select pg_catalog.set_config('pgflow.fake_now', set_now.ts::text, true)::timestamptz
$$;

-- Moves the engine's clock forward (from its current value) for the rest of the transaction.
create or replace function pgflow_tests.advance(by_interval interval)
returns timestamptz
language sql
volatile
as $$
  select pgflow_tests.set_now(pgflow.now() + advance.by_interval)
$$;

-- Defines the diamond a -> (b, c) -> d under the given slug, with optional flow options.
create or replace function pgflow_tests.define_diamond(flow_slug text, options jsonb default '{}')
returns pgflow.flows
language sql
volatile
as $$
  select pgflow.define_flow(
    define_diamond.flow_slug,
    '[{"slug": "a"},
      {"slug": "b", "depends_on": ["a"]},
      {"slug": "c", "depends_on": ["a"]},
      {"slug": "d", "depends_on": ["b", "c"]}]'::jsonb,
    define_diamond.options
  )
$$;

-- Polls tasks of one flow as worker 'test-worker'.
create or replace function pgflow_tests.poll(flow_slug text, max_tasks int default 10)
returns setof pgflow.task
language sql
volatile
as $$
  select * from pgflow.poll_for_tasks('test-worker', array[poll.flow_slug], poll.max_tasks)
$$;

-- Claims the queued task of one step (polling the flow until that step's task comes up; tasks of
-- other steps claimed on the way are left started) and returns it.
create or replace function pgflow_tests.claim(run_id uuid, step_slug text, task_index int default 0)
returns pgflow.task
language plpgsql
volatile
as $$
declare
  v_task pgflow.task;
begin
  for v_task in
    select * from pgflow.poll_for_tasks('test-worker', null, 1000)
  loop
    if v_task.run_id = claim.run_id and v_task.step_slug = claim.step_slug and v_task.task_index = claim.task_index then
      return v_task;
    end if;
  end loop;
  select t.run_id, t.flow_slug, t.step_slug, t.task_index, t.attempt, null, null, t.deadline into v_task
  from pgflow.step_tasks as t
  where t.run_id = claim.run_id and t.step_slug = claim.step_slug and t.task_index = claim.task_index
    and t.status = 'started';
  if not found then
    raise exception 'claim: task %/%/% was not claimable', claim.run_id, claim.step_slug, claim.task_index;
  end if;
  return v_task;
end;
$$;

-- Claims and completes one task with the given output; returns complete_task's result.
create or replace function pgflow_tests.complete(run_id uuid, step_slug text, output jsonb, task_index int default 0)
returns boolean
language plpgsql
volatile
as $$
declare
  v_task pgflow.task := pgflow_tests.claim(complete.run_id, complete.step_slug, complete.task_index);
begin
  return pgflow.complete_task(
    complete.run_id, complete.step_slug, complete.task_index, complete.output, v_task.attempt
  );
end;
$$;

-- The status of a run, a step state, or a task.
create or replace function pgflow_tests.run_status(run_id uuid)
returns text
language sql
stable
as $$
  select r.status from pgflow.runs as r where r.run_id = run_status.run_id
$$;

create or replace function pgflow_tests.step_status(run_id uuid, step_slug text)
returns text
language sql
stable
as $$
  select ss.status from pgflow.step_states as ss
  where ss.run_id = step_status.run_id and ss.step_slug = step_status.step_slug
$$;

create or replace function pgflow_tests.task_status(run_id uuid, step_slug text, task_index int default 0)
returns text
language sql
stable
as $$
  select t.status from pgflow.step_tasks as t
  where t.run_id = task_status.run_id and t.step_slug = task_status.step_slug and t.task_index = task_status.task_index
$$;
