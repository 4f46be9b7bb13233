-- Helpers for the tests of controlling and observing runs (cancel_run, resume_run, get_run_status,
-- prune_runs). Schema pgflow_tests, loaded after 00_core.sql.

-- Claims the task of one step (see pgflow_tests.claim) and reports its attempt as failed with the given
-- error; returns fail_task's result.
create or replace function pgflow_tests.claim_and_fail(
  run_id uuid, step_slug text, error text default 'boom', task_index int default 0
)
returns boolean
language plpgsql
volatile
as $$
declare
  v_task pgflow.task := pgflow_tests.claim(claim_and_fail.run_id, claim_and_fail.step_slug, claim_and_fail.task_index);
begin
  return pgflow.fail_task(
    claim_and_fail.run_id, claim_and_fail.step_slug, claim_and_fail.task_index, claim_and_fail.error, v_task.attempt
  );
end;
$$;

-- The step slugs of a get_run_status document, in the order it lists them.
create or replace function pgflow_tests.status_step_order(run_id uuid)
returns text[]
language sql
stable
as $$
  select array_agg(e.step ->> 'step_slug' order by e.pos)
  from jsonb_array_elements(pgflow.get_run_status(status_step_order.run_id) -> 'steps') with ordinality as e (step, pos)
$$;

-- Everything stored about one run (its row, step states and tasks) as one JSON value, to check that an operation
-- changed nothing.
create or replace function pgflow_tests.run_snapshot(run_id uuid)
returns jsonb
language sql
stable
as $$
  select jsonb_build_object(
    'run', (select to_jsonb(r) from pgflow.runs as r where r.run_id = run_snapshot.run_id),
    'step_states', (
      select jsonb_agg(to_jsonb(ss) order by ss.step_slug)
      from pgflow.step_states as ss where ss.run_id = run_snapshot.run_id
    ),
    'step_tasks', (
      select jsonb_agg(to_jsonb(t) order by t.step_slug, t.task_index)
      from pgflow.step_tasks as t where t.run_id = run_snapshot.run_id
    )
  )
$$;
