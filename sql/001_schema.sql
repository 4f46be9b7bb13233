-- The pgflow schema: flow definitions, runs, step states, tasks and workers.
--
-- Definitions (flows, steps, deps) are versioned and never updated once a run uses them.
-- Runtime state (runs, step_states, step_tasks) is written only by the engine's functions;
-- the tables are public for reading (dashboards, ad-hoc queries).
--
-- Statuses are text with named CHECK constraints that hold the state machine:
--   runs:        started -> completed | failed | cancelled          (resume: failed|cancelled -> started)
--   step_states: created -> started -> completed | failed | skipped | cancelled
--   step_tasks:  queued -> started -> completed | failed | cancelled (retry: started -> queued)
--
-- Tasks of wait steps and sub-flow steps are held by the engine, not by a worker: they are never queued, but
-- started at once with no worker_id (a wait step's task waits for pgflow.signal; a sub-flow step's task waits
-- for its child run), with a deadline only when their step has a timeout.

create schema if not exists pgflow;

comment on schema pgflow is 'pgflow: a DAG workflow engine inside PostgreSQL';

-- Installed schema versions, newest last (written by the installer), with the checksum of the SQL
-- files they were installed from.
create table pgflow.schema_migrations (
  version text primary key,
  checksum text,
  applied_at timestamptz not null default clock_timestamp()
);

-- One row per version of a flow definition. Exactly one version of each flow is current (is_current): runs start
-- on it. A new definition becomes the next version and current; set_current_version moves it (a rollback).
create table pgflow.flows (
  flow_slug text not null,
  version int not null,
  max_attempts int not null,
  base_delay numeric not null,
  max_delay numeric not null,
  timeout numeric not null,
  -- the normalized definition, compared by define_flow to decide whether a new version is needed
  definition jsonb not null,
  created_at timestamptz not null,
  -- the version runs start on: one per flow (flows_one_current_version), moved by define_flow and
  -- set_current_version under the flow's definition lock
  is_current boolean not null default false,
  primary key (flow_slug, version),
  constraint flows_slug_is_valid check (flow_slug ~ '^[a-zA-Z_][a-zA-Z0-9_]*$' and length(flow_slug) <= 128),
  constraint flows_version_is_positive check (version >= 1),
  constraint flows_max_attempts_is_positive check (max_attempts >= 1),
  constraint flows_delays_are_not_negative check (base_delay >= 0 and max_delay >= 0),
  constraint flows_timeout_is_positive check (timeout > 0)
);

-- At most one current version per flow; start_run finds it with one probe of this index.
create unique index flows_one_current_version on pgflow.flows (flow_slug) where is_current;

-- One row per step of a flow version, with its effective options (step value, else flow value).
create table pgflow.steps (
  flow_slug text not null,
  flow_version int not null,
  step_slug text not null,
  -- position in a topological order of the DAG (ties broken by definition order)
  step_index int not null,
  step_type text not null,
  deps_count int not null,
  max_attempts int not null,
  base_delay numeric not null,
  max_delay numeric not null,
  -- null: no deadline (only wait and sub-flow steps, whose timeout is never taken from the flow)
  timeout numeric,
  start_delay numeric not null,
  condition_if jsonb,
  condition_if_not jsonb,
  when_unmet text not null,
  when_exhausted text not null,
  created_at timestamptz not null,
  -- flow control (null: none): at most `concurrency` tasks of the step started at once, per value of the
  -- bucket key path; at most rate_limit.limit claims per rate_limit.per seconds, per value of the same path.
  -- The bucket key path is concurrency_key, else rate_limit.key (define_flow refuses two different paths)
  concurrency int,
  concurrency_key text[],
  -- {"limit": n, "per": seconds[, "key": path]}
  rate_limit jsonb,
  -- a sub-flow step: each of its tasks starts a run of this flow (its current version), and completes with it
  subflow_slug text,
  -- a typed step: the JSON Schemas of its handler's input and output (null: untyped), as the client sent them
  input_schema jsonb,
  output_schema jsonb,
  primary key (flow_slug, flow_version, step_slug),
  foreign key (flow_slug, flow_version) references pgflow.flows (flow_slug, version),
  constraint steps_slug_is_valid check (step_slug ~ '^[a-zA-Z_][a-zA-Z0-9_]*$' and length(step_slug) <= 128),
  constraint steps_type_is_valid check (step_type in ('single', 'map', 'wait')),
  constraint steps_map_has_at_most_one_dep check (step_type <> 'map' or deps_count <= 1),
  constraint steps_deps_count_is_not_negative check (deps_count >= 0),
  constraint steps_max_attempts_is_positive check (max_attempts >= 1),
  constraint steps_delays_are_not_negative check (base_delay >= 0 and max_delay >= 0 and start_delay >= 0),
  constraint steps_timeout_is_positive check (timeout > 0),
  constraint steps_timeout_is_set_for_worker_steps
  check (timeout is not null or step_type = 'wait' or subflow_slug is not null),
  constraint steps_wait_is_not_a_subflow check (step_type <> 'wait' or subflow_slug is null),
  constraint steps_when_unmet_is_valid check (when_unmet in ('skip', 'skip-cascade', 'fail')),
  constraint steps_when_exhausted_is_valid check (when_exhausted in ('fail', 'skip', 'skip-cascade')),
  constraint steps_concurrency_is_positive check (concurrency >= 1),
  constraint steps_rate_limit_is_an_object check (rate_limit is null or jsonb_typeof(rate_limit) = 'object')
);

-- A step's position is unique in its flow version. The index holding that is on an expression no query
-- names, so that the planner never reads it: on the columns, led by (flow_slug, flow_version), it competed
-- with the primary key for every lookup of a step, and on empty statistics (a new database), which
-- estimate that prefix at one row, it was picked, reading every step of the flow version for each lookup;
-- led by step_index, it was read whole to find the steps of one flow version.
create unique index steps_step_index_is_unique on pgflow.steps (
  (array[flow_slug, flow_version::text, step_index::text])
);

-- Edges of the DAG: step_slug depends on dep_slug. Both name steps of the same flow version: the
-- definition functions check that before writing (PF002), so there is no foreign key to re-check it
-- row by row (on a large definition those checks cost more than everything else).
create table pgflow.deps (
  flow_slug text not null,
  flow_version int not null,
  dep_slug text not null,
  step_slug text not null,
  primary key (flow_slug, flow_version, step_slug, dep_slug),
  foreign key (flow_slug, flow_version) references pgflow.flows (flow_slug, version),
  constraint deps_no_self_dependency check (dep_slug <> step_slug)
);

-- "Which steps depend on this one?": the cascade walks edges in this direction. dep_slug leads, so that
-- the other question ("what does this step depend on?", asked to build a step's input) has only the primary
-- key to answer it: led by (flow_slug, flow_version) like the key, this index was picked for it on empty
-- statistics, and every claim read all the dependencies of the flow version. (On empty statistics the key's
-- prefix (flow_slug, flow_version) also ties with this index for the first question; of two indexes that
-- tie, PostgreSQL keeps the one created last, this one.) It holds step_slug, so that the answer comes from the
-- index alone: without it, on a long history (analyzed), the planner preferred an index-only scan of the key's
-- prefix, every dependency of the flow version, to this index and the table (tests_py/test_plans.py).
create index deps_by_dep on pgflow.deps (dep_slug, flow_slug, flow_version) include (step_slug);

-- One row per execution of a flow version.
create table pgflow.runs (
  run_id uuid primary key,
  flow_slug text not null,
  flow_version int not null,
  status text not null,
  input jsonb not null,
  output jsonb,
  error text,
  idempotency_key text,
  -- steps neither completed nor skipped; the run completes when it reaches 0
  remaining_steps int not null,
  started_at timestamptz not null,
  finished_at timestamptz,
  -- among due tasks, those of runs of higher priority are claimed first (copied to step_tasks.priority)
  priority int not null default 0,
  -- a child run: the sub-flow task that started it (its run, step, task and attempt); null for other runs
  parent_run_id uuid,
  parent_step_slug text,
  parent_task_index int,
  parent_attempt int,
  -- when the parent task took this child run's result (completed or failed by it); null before, and for a child
  -- run whose parent task had already moved on. Finished children not yet settled are found by runs_to_settle
  parent_settled_at timestamptz,
  -- a run started by a schedule: the schedule and the tick it was started for
  schedule_slug text,
  schedule_tick timestamptz,
  foreign key (flow_slug, flow_version) references pgflow.flows (flow_slug, version),
  constraint runs_priority_is_bounded check (priority between -1000 and 1000),
  constraint runs_status_is_valid check (status in ('started', 'completed', 'failed', 'cancelled')),
  constraint runs_remaining_steps_is_not_negative check (remaining_steps >= 0),
  constraint runs_finished_at_matches_status check ((status = 'started') = (finished_at is null)),
  constraint runs_completed_has_no_remaining_steps check (status <> 'completed' or remaining_steps = 0)
);

create unique index runs_idempotency_key on pgflow.runs (flow_slug, idempotency_key)
where idempotency_key is not null;
create index runs_by_flow on pgflow.runs (flow_slug, flow_version);
create index runs_finished on pgflow.runs (finished_at) where finished_at is not null;
-- Runs in flight per flow version (list_flow_versions): how many runs an old version still has before its
-- workers can be retired. Partial, so finished runs never enter it.
create index runs_in_flight on pgflow.runs (flow_slug, flow_version) where status = 'started';
-- The child runs of a run's sub-flow tasks.
create index runs_children on pgflow.runs (parent_run_id, parent_step_slug, parent_task_index)
where parent_run_id is not null;
-- Finished child runs whose parent task has not taken their result yet (polls settle them). Empty when idle.
create index runs_to_settle on pgflow.runs (finished_at)
where parent_run_id is not null and finished_at is not null and parent_settled_at is null;
-- Runs newest first, as list_runs and the dashboard page them (keyset on (started_at, run_id), never an offset):
-- all runs, the runs of one flow, the runs in one status. Without them, a page of 1,000,000 runs sorted them all.
-- run_id is not in them (runs started together, with one started_at, are put in run_id order by an incremental
-- sort of those few): with it, a lookup of a run by id and status (the claim's) could be planned as a range of
-- every run in that status, reading run_id from the third column.
create index runs_newest_first on pgflow.runs (started_at desc);
create index runs_of_flow_newest_first on pgflow.runs (flow_slug, started_at desc);
create index runs_in_status_newest_first on pgflow.runs (status, started_at desc);

-- One row per step of a run: the counters that drive the cascade.
-- step_states and step_tasks have no foreign keys: only the engine's functions write them, always with
-- their run (and step state) in place, and prune_runs deletes the three together. Checked row by row, the
-- keys cost as much as the rest of a task completion (a row updated twice in one transaction is
-- re-checked at each update).
create table pgflow.step_states (
  run_id uuid not null,
  step_slug text not null,
  flow_slug text not null,
  flow_version int not null,
  status text not null,
  -- dependencies neither completed nor skipped; the step starts when it reaches 0
  remaining_deps int not null,
  -- tasks not yet completed; null until the step starts; the step completes when it reaches 0
  remaining_tasks int,
  initial_tasks int,
  output jsonb,
  error text,
  started_at timestamptz,
  finished_at timestamptz,
  -- bytes of the outputs recorded so far (a single step's output; the sum of a map step's task outputs),
  -- measured in jsonb form, checked against pgflow.max_output_size(); null before any
  output_size bigint,
  -- a wait step's signal (pgflow.signal): its payload, kept from when it arrives (even before the step is ready)
  -- and made the step's output when the step is ready; signalled_at is null until a signal arrives
  signal jsonb,
  signalled_at timestamptz,
  primary key (run_id, step_slug),
  constraint step_states_status_is_valid
  check (status in ('created', 'started', 'completed', 'failed', 'skipped', 'cancelled')),
  constraint step_states_remaining_deps_is_not_negative check (remaining_deps >= 0),
  constraint step_states_remaining_tasks_is_not_negative check (remaining_tasks >= 0),
  constraint step_states_remaining_tasks_within_initial check (remaining_tasks <= initial_tasks),
  constraint step_states_status_and_remaining_tasks_match check (
    (status <> 'created' or remaining_tasks is null)
    and (status <> 'started' or remaining_tasks > 0)
    and (status <> 'completed' or remaining_tasks = 0)
  ),
  constraint step_states_finished_at_matches_status
  check ((status in ('created', 'started')) = (finished_at is null))
);

-- One row per unit of work: a single step has task 0, a map step one task per array element.
create table pgflow.step_tasks (
  run_id uuid not null,
  step_slug text not null,
  task_index int not null,
  flow_slug text not null,
  status text not null,
  -- attempts made so far (0 before the first claim); claims increment it, reports are fenced by it
  attempt int not null default 0,
  -- attempts made before the latest resume_run: the retry budget counts from here
  attempts_base int not null default 0,
  -- the array element of a map task; null for single steps (their input is built at claim time)
  input jsonb,
  output jsonb,
  error text,
  worker_id text,
  visible_at timestamptz not null,
  deadline timestamptz,
  queued_at timestamptz not null,
  started_at timestamptz,
  finished_at timestamptz,
  -- the run's priority, copied when the task is created
  priority int not null default 0,
  -- the task's place in the fair queue of its priority (see step_tasks_ready): null while it is delayed (not
  -- yet due: start_delay, a retry's backoff), set when it becomes due
  fair_round bigint,
  -- the flow-control bucket of the task: null when its step has neither concurrency nor rate_limit, else
  -- md5(flow_slug/step_slug/the run input's value at the bucket key path, '' when missing)
  flow_key text,
  primary key (run_id, step_slug, task_index),
  constraint step_tasks_status_is_valid check (status in ('queued', 'started', 'completed', 'failed', 'cancelled')),
  constraint step_tasks_task_index_is_not_negative check (task_index >= 0),
  constraint step_tasks_attempts_are_ordered check (attempt >= attempts_base and attempts_base >= 0),
  -- a task started by a worker has a deadline; one held by the engine (worker_id null) may have none
  constraint step_tasks_started_has_deadline
  check (
    status <> 'started'
    or ((deadline is not null or worker_id is null) and started_at is not null and attempt > attempts_base)
  ),
  constraint step_tasks_finished_at_matches_status
  check ((status in ('queued', 'started')) = (finished_at is null))
);

-- The claim: due queued tasks without flow control, highest priority first, then by fair round, then oldest
-- first. Partial, so finished and delayed tasks never enter it. Also read for the smallest fair round of a priority.
create index step_tasks_ready on pgflow.step_tasks (priority desc, fair_round, visible_at)
where status = 'queued' and fair_round is not null and flow_key is null;
-- Delayed queued tasks (not yet due), by when they become due: each poll makes the due ones ready.
create index step_tasks_delayed on pgflow.step_tasks (visible_at) where status = 'queued' and fair_round is null;
-- Due queued tasks under flow control, per bucket, in claim order; walked bucket by bucket by the claim.
create index step_tasks_flow_controlled on pgflow.step_tasks (
  flow_slug, flow_key, priority desc, fair_round, visible_at
)
where status = 'queued' and fair_round is not null and flow_key is not null;
-- Started tasks per bucket: the claim counts them against a bucket's concurrency.
create index step_tasks_started_flow_key on pgflow.step_tasks (flow_key)
where status = 'started' and flow_key is not null;
-- Expiry: started tasks by deadline, and by the worker holding them.
create index step_tasks_started_deadline on pgflow.step_tasks (deadline) where status = 'started';
create index step_tasks_started_worker on pgflow.step_tasks (worker_id) where status = 'started';

-- Workers announce themselves with heartbeat(); their started tasks expire when they go quiet for longer
-- than the timeout they registered (their lease ends at expires_at; a poll or a heartbeat renews it).
create table pgflow.workers (
  worker_id text primary key,
  flow_slugs text[],
  started_at timestamptz not null,
  last_heartbeat_at timestamptz not null,
  stopped_at timestamptz,
  -- the worker's own timeout, registered by heartbeat() from its session's pgflow.worker_timeout
  worker_timeout interval not null,
  -- the end of its lease: its last sign of life plus worker_timeout, moved later after a server restart
  expires_at timestamptz not null,
  -- the handlers the worker said, at its last heartbeat, were still running past their deadline: a JSON array
  -- of {"run_id", "step_slug", "task_index", "attempt", "deadline"} (at most 1,000), for `pgflow workers`
  past_deadline jsonb not null default '[]',
  -- the flow versions the worker serves, as its last poll gave them: {"flow_slug": [version, ...]} (a flow absent
  -- from it is not served); null: every version (of the flows in flow_slugs). Read by pgflow.live_workers()
  flow_versions jsonb,
  constraint workers_worker_timeout_is_bounded
  check (worker_timeout between interval '1 second' and interval '1 hour'),
  constraint workers_past_deadline_is_an_array
  check (jsonb_typeof(past_deadline) = 'array'),
  constraint workers_flow_versions_is_an_object
  check (flow_versions is null or jsonb_typeof(flow_versions) = 'object')
);

-- Expiry looks for running workers whose lease has ended.
create index workers_running on pgflow.workers (expires_at) where stopped_at is null;

-- Every start of the database server the engine has noticed (by the first heartbeat or poll after it).
-- While the server was down, or nothing reached it, no worker could be heard: credit is that time (from
-- the last sign of life the engine had recorded to the first call after the start), and the leases of
-- the workers and the deadlines of the attempts in flight were moved later by it, so that an outage
-- never counts against a worker.
create table pgflow.server_starts (
  server_started_at timestamptz primary key,
  noticed_at timestamptz not null,
  last_heard_at timestamptz,
  credit interval not null,
  constraint server_starts_credit_is_not_negative check (credit >= interval '0')
);

-- The engine's own locks, as rows that only the engine's owner can lock (PostgreSQL's advisory locks can be
-- taken by any session of the database, and would let any of them stall expiry or definitions): one row per
-- flow ('flow:<slug>', inserted by its first definition; definition writers lock it FOR UPDATE, start_run FOR
-- KEY SHARE), 'expire_tasks' (one expiry pass at a time) and 'server_starts' (one notice of a server start).
create table pgflow.locks (
  name text primary key
);

insert into pgflow.locks (name) values ('expire_tasks'), ('server_starts');

-- One row per flow-control bucket that was ever claimed from, written only by the claim (inserted at a bucket's
-- first claim, then locked FOR UPDATE SKIP LOCKED by the one poller claiming from it): the rate window.
create table pgflow.flow_buckets (
  flow_key text primary key,
  flow_slug text not null,
  step_slug text not null,
  -- the run input's value at the bucket key path (null when missing, or when the step has no key path)
  key jsonb,
  -- the current rate window: started at the first claim after the previous window ended
  window_started_at timestamptz,
  window_claims int not null default 0,
  last_claimed_at timestamptz
);

-- Cron schedules: polls start a run of flow_slug (its current version) with input at each tick of cron (five fields,
-- read in timezone), exactly once per tick (the run's idempotency key is schedule:<slug>:<tick>); ticks missed while
-- nothing polled start once, for the latest of them.
create table pgflow.schedules (
  schedule_slug text primary key,
  flow_slug text not null,
  cron text not null,
  timezone text not null,
  input jsonb not null,
  -- the next tick to start a run for
  next_tick timestamptz not null,
  -- the latest tick a run was started for, that run, and the error of the latest tick that could not start one
  last_tick timestamptz,
  last_run_id uuid,
  last_error text,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  constraint schedules_slug_is_valid
  check (schedule_slug ~ '^[a-zA-Z_][a-zA-Z0-9_]*$' and length(schedule_slug) <= 128),
  constraint schedules_flow_slug_is_valid check (flow_slug ~ '^[a-zA-Z_][a-zA-Z0-9_]*$' and length(flow_slug) <= 128)
);

-- Polls probe it for due ticks.
create index schedules_next_tick on pgflow.schedules (next_tick);

-- What poll_for_tasks returns: one claimed task with the input its handler receives.
create type pgflow.task as (
  run_id uuid,
  flow_slug text,
  step_slug text,
  task_index int,
  attempt int,
  input jsonb,
  flow_input jsonb,
  deadline timestamptz
);

comment on table pgflow.flows is
'Flow definitions, one row per version; runs start on the version whose is_current is true (one per flow).';
comment on table pgflow.steps is 'Steps of each flow version, with effective options.';
comment on table pgflow.deps is 'DAG edges: step_slug depends on dep_slug.';
comment on table pgflow.runs is 'Executions of a flow version.';
comment on table pgflow.step_states is 'Per-run step state with the remaining_deps and remaining_tasks counters.';
comment on table pgflow.step_tasks is 'Units of work: one per single step, one per element of a map step.';
comment on table pgflow.workers is 'Workers known by their heartbeats.';
comment on table pgflow.schedules is
'Cron schedules: polls start a run of the flow at each tick, once per tick (key schedule:<slug>:<tick>).';
comment on table pgflow.flow_buckets is
'Flow-control buckets (a step, or a step and a value of its key path) with their rate windows; written by the claim.';
-- One report of a batch, as _complete_reports reads them.
create type pgflow._report as (
  pos int,
  run_id uuid,
  step_slug text,
  task_index int,
  output jsonb,
  attempt int
);

comment on type pgflow.task is 'A claimed task, as returned by poll_for_tasks.';
comment on table pgflow.locks is 'The engine''s locks, as rows (internal: grant nothing on it).';
comment on table pgflow.server_starts is
'Database server starts noticed by the engine, with the time it heard nothing before each (credited to workers).';
