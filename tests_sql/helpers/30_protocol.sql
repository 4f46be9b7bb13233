-- Helpers for the worker-protocol tests (poll_for_tasks, complete_task, fail_task, expiry, workers).

-- The step_tasks row of one task (null when it does not exist).
create or replace function pgflow_tests.task_row(run_id uuid, step_slug text, task_index int default 0)
returns pgflow.step_tasks
language sql
stable
as $$
  select t.* from pgflow.step_tasks as t
  where t.run_id = task_row.run_id and t.step_slug = task_row.step_slug and t.task_index = task_row.task_index
$$;

-- Claims one task (see pgflow_tests.claim) and fails its current attempt with the given error;
-- returns fail_task's result.
create or replace function pgflow_tests.fail(run_id uuid, step_slug text, error text, task_index int default 0)
returns boolean
language plpgsql
volatile
as $$
declare
  v_task pgflow.task := pgflow_tests.claim(fail.run_id, fail.step_slug, fail.task_index);
begin
  return pgflow.fail_task(fail.run_id, fail.step_slug, fail.task_index, fail.error, v_task.attempt);
end;
$$;
