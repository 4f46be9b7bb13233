-- Who may do what (docs/security.md). Run last, at every install and upgrade, so that a fresh install and an
-- upgraded database end with the same privileges whatever the previous version had.
--
-- - Nothing in schema pgflow is granted to PUBLIC: not the schema, not a table, not a function (PostgreSQL
--   grants EXECUTE on every new function to PUBLIC; it is revoked here, after every function was (re)created).
--   Internal functions (names starting with "_") and pgflow.now() are executable by the owner only.
-- - Every public function but pgflow.now() runs with the rights of the schema's owner (security definer), with
--   search_path pinned to pg_catalog then pg_temp (in the function files): a caller granted EXECUTE needs no
--   privilege on the tables, and cannot make the function find its own tables, types or functions instead
--   of the engine's. pgflow.now() stays an ordinary function so that PostgreSQL can inline it into the
--   engine's queries (a security definer function is never inlined); it reads no table.
-- - Three roles (created NOLOGIN by the installer where it may, or by a DBA) get exactly what their job
--   needs: pgflow_worker, pgflow_producer, pgflow_reader. Roles belong to the whole cluster, privileges to one
--   database: each block below grants only when its role exists, so that an install by a role that may not
--   create roles still succeeds (the installer says how to create them; `pgflow migrate` run again once they
--   exist grants to them). Each block first revokes everything the role had in the schema, so a privilege
--   taken away by a new version is taken away by the upgrade too.
--
-- A new public function must be placed here (security definer, and granted to the roles that need it, or to
-- none); tests_py/test_roles.py fails for a function without a decision.

alter function pgflow.worker_timeout security definer;
-- (a constant, inlined before; it pins search_path like every function that runs as the owner)
alter function pgflow.max_output_size security definer set search_path = pg_catalog, pg_temp;
alter function pgflow.define_flow security definer;
alter function pgflow.create_flow security definer;
alter function pgflow.add_step security definer;
alter function pgflow.start_run security definer;
alter function pgflow.start_flow security definer;
alter function pgflow.expire_tasks security definer;
alter function pgflow.poll_for_tasks security definer;
alter function pgflow.poll_for_tasks_lean security definer;
alter function pgflow.get_run_input security definer;
alter function pgflow.complete_task security definer;
alter function pgflow.complete_tasks security definer;
alter function pgflow.fail_task security definer;
alter function pgflow.cancel_run security definer;
alter function pgflow.resume_run security definer;
alter function pgflow.prune_runs security definer;
alter function pgflow.get_run_status security definer;
alter function pgflow.list_runs security definer;
alter function pgflow.describe_flow security definer;
alter function pgflow.find_flow_versions security definer;
alter function pgflow.get_step_outputs security definer;
alter function pgflow.get_task_input security definer;
alter function pgflow.list_flow_versions security definer;
alter function pgflow.set_current_version security definer;
alter function pgflow.heartbeat security definer;
alter function pgflow.stop_worker security definer;
alter function pgflow.live_workers security definer;
alter function pgflow.schema_version security definer;
alter function pgflow.signal security definer;
alter function pgflow.find_run security definer;
alter function pgflow.next_cron_tick security definer;
alter function pgflow.create_schedule security definer;
alter function pgflow.drop_schedule security definer;

revoke all on schema pgflow from public;
revoke all on all tables in schema pgflow from public;
revoke all on all sequences in schema pgflow from public;
revoke all on all functions in schema pgflow from public;
revoke all on type pgflow.task, pgflow._report from public;

-- pgflow_worker: registers its code's flows (and the schedules they declare), claims and reports tasks, beats.
-- Also reads the state of the tasks whose reports the engine declined (to log why: a few columns of step_tasks
-- and runs, no inputs or outputs).
do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'pgflow_worker') then
    revoke all on schema pgflow from pgflow_worker;
    revoke all on all tables in schema pgflow from pgflow_worker;
    revoke all on all functions in schema pgflow from pgflow_worker;
    grant usage on schema pgflow to pgflow_worker;
    grant execute on function
      pgflow.define_flow, pgflow.poll_for_tasks, pgflow.poll_for_tasks_lean, pgflow.heartbeat,
      pgflow.stop_worker, pgflow.complete_task, pgflow.complete_tasks, pgflow.fail_task, pgflow.get_run_input,
      pgflow.find_flow_versions, pgflow.worker_timeout, pgflow.max_output_size, pgflow.schema_version,
      pgflow.create_schedule, pgflow.next_cron_tick
    to pgflow_worker;
    grant select (run_id, step_slug, task_index, status, attempt, error) on pgflow.step_tasks to pgflow_worker;
    grant select (run_id, status) on pgflow.runs to pgflow_worker;
  end if;
end
$$;

-- pgflow_producer: starts, cancels and resumes runs, reads them through the read functions, creates and drops
-- schedules and reads them (SELECT on pgflow.schedules, its only table).
do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'pgflow_producer') then
    revoke all on schema pgflow from pgflow_producer;
    revoke all on all tables in schema pgflow from pgflow_producer;
    revoke all on all functions in schema pgflow from pgflow_producer;
    grant usage on schema pgflow to pgflow_producer;
    grant execute on function
      pgflow.start_run, pgflow.start_flow, pgflow.cancel_run, pgflow.resume_run, pgflow.signal, pgflow.find_run,
      pgflow.get_run_status, pgflow.list_runs, pgflow.describe_flow, pgflow.find_flow_versions,
      pgflow.get_step_outputs, pgflow.get_task_input, pgflow.list_flow_versions, pgflow.live_workers,
      pgflow.max_output_size,
      pgflow.schema_version, pgflow.create_schedule, pgflow.drop_schedule, pgflow.next_cron_tick
    to pgflow_producer;
    grant select on pgflow.schedules to pgflow_producer;
  end if;
end
$$;

-- pgflow_reader: the read functions and SELECT on the tables (dashboards, reports, monitoring); not on
-- pgflow.locks, the engine's internal lock rows.
do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'pgflow_reader') then
    revoke all on schema pgflow from pgflow_reader;
    revoke all on all tables in schema pgflow from pgflow_reader;
    revoke all on all functions in schema pgflow from pgflow_reader;
    grant usage on schema pgflow to pgflow_reader;
    grant execute on function
      pgflow.get_run_status, pgflow.list_runs, pgflow.describe_flow, pgflow.find_flow_versions,
      pgflow.get_step_outputs, pgflow.get_task_input, pgflow.list_flow_versions, pgflow.live_workers,
      pgflow.max_output_size,
      pgflow.worker_timeout, pgflow.schema_version, pgflow.find_run, pgflow.next_cron_tick
    to pgflow_reader;
    grant select on
      pgflow.flows, pgflow.steps, pgflow.deps, pgflow.runs, pgflow.step_states, pgflow.step_tasks,
      pgflow.workers, pgflow.server_starts, pgflow.schema_migrations, pgflow.flow_buckets, pgflow.schedules
    to pgflow_reader;
  end if;
end
$$;
