-- Helpers for the tests of wait steps.

-- The entry of one step in get_run_status's steps.
create or replace function pgflow_tests.step_entry(run_id uuid, step_slug text)
returns jsonb
language sql
volatile
as $$
  select s.step
  from pg_catalog.jsonb_array_elements(pgflow.get_run_status(step_entry.run_id) -> 'steps') as s (step)
  where s.step ->> 'step_slug' = step_entry.step_slug
$$;
