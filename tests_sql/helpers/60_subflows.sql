-- Helpers for the tests of sub-flow steps. Schema pgflow_tests, loaded after 00_core.sql.

-- The latest child run of a sub-flow task (highest parent_attempt), or null when it has none.
create or replace function pgflow_tests.child_run(run_id uuid, step_slug text, task_index int default 0)
returns uuid
language sql
stable
as $$
  select r.run_id
  from pgflow.runs as r
  where r.parent_run_id = child_run.run_id and r.parent_step_slug = child_run.step_slug
    and r.parent_task_index = child_run.task_index
  order by r.parent_attempt desc, r.started_at desc
  limit 1
$$;

-- How many child runs a run's sub-flow tasks started (every attempt counted).
create or replace function pgflow_tests.child_count(run_id uuid)
returns int
language sql
stable
as $$
  select count(*)::int from pgflow.runs as r where r.parent_run_id = child_count.run_id
$$;
