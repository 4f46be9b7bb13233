-- Observing runs: get_run_status, the JSON view of one run that dashboards, the CLI and the
-- Python client read.

-- Called by clients (Client.get_run_status, `pgflow status`) and anyone polling progress.
create or replace function pgflow.get_run_status(run_id uuid)
returns jsonb
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_status jsonb;
begin
  perform pgflow._check_not_null('get_run_status', 'run_id', get_run_status.run_id is null);
  select
    pg_catalog.jsonb_build_object(
      'run_id', r.run_id,
      'flow_slug', r.flow_slug,
      'flow_version', r.flow_version,
      'status', r.status,
      'priority', r.priority,
      'total_steps', steps.total_steps,
      'completed_steps', steps.completed_steps,
      'percentage', case
        when steps.total_steps = 0 then 100.0
        else pg_catalog.round(100.0 * steps.completed_steps / steps.total_steps, 1)
      end,
      'total_tasks', steps.total_tasks,
      'completed_tasks', steps.completed_tasks,
      'input', r.input,
      'output', r.output,
      'error', r.error,
      'started_at', r.started_at,
      'finished_at', r.finished_at,
      'steps', steps.list
    )
    -- a child run: the sub-flow task that started it (sql/024_subflows.sql)
    || case
      when r.parent_run_id is not null then pg_catalog.jsonb_build_object(
        'parent', pg_catalog.jsonb_build_object(
          'run_id', r.parent_run_id, 'step_slug', r.parent_step_slug, 'task_index', r.parent_task_index
        )
      )
      else '{}'::jsonb
    end
  into v_status
  from pgflow.runs as r
  cross join lateral (
    select
      pg_catalog.count(*)::int as total_steps,
      (pg_catalog.count(*) filter (where st.status in ('completed', 'skipped')))::int as completed_steps,
      coalesce(pg_catalog.sum(st.total_tasks), 0)::int as total_tasks,
      coalesce(pg_catalog.sum(st.completed_tasks), 0)::int as completed_tasks,
      coalesce(
        pg_catalog.jsonb_agg(
          pg_catalog.jsonb_build_object(
            'step_slug', st.step_slug,
            'step_type', st.step_type,
            'status', st.status,
            'depends_on', st.depends_on,
            'total_tasks', st.total_tasks,
            'completed_tasks', st.completed_tasks,
            'attempts', st.attempts,
            'error', st.error,
            'started_at', st.started_at,
            'finished_at', st.finished_at
          )
          -- a sub-flow step: its child flow, and the latest child run of each task (sql/024_subflows.sql)
          || case
            when st.subflow_slug is not null then pg_catalog.jsonb_build_object(
              'subflow', st.subflow_slug,
              'child_runs', (
                select coalesce(
                  pg_catalog.jsonb_agg(
                    pg_catalog.jsonb_build_object('task_index', c.parent_task_index, 'run_id', c.run_id, 'status', c.status)
                    order by c.parent_task_index
                  ),
                  '[]'::jsonb
                )
                from (
                  select distinct on (ch.parent_task_index) ch.parent_task_index, ch.run_id, ch.status
                  from pgflow.runs as ch
                  where ch.parent_run_id = r.run_id and ch.parent_step_slug = st.step_slug
                  order by ch.parent_task_index, ch.parent_attempt desc, ch.started_at desc
                ) as c
              )
            )
            else '{}'::jsonb
          end
          -- a wait step: "waiting" while started, since when, until when, and its signal's time
          || case when st.step_type = 'wait' then pgflow._wait_status(r.run_id, st.step_slug, st.status) else '{}' end
          order by st.step_index
        ),
        '[]'::jsonb
      ) as list
    from (
      select
        ss.step_slug, s.step_type, s.step_index, s.subflow_slug, ss.status, ss.error, ss.started_at, ss.finished_at,
        coalesce(t.total_tasks, 0) as total_tasks,
        coalesce(t.completed_tasks, 0) as completed_tasks,
        coalesce(t.attempts, 0) as attempts,
        (
          select coalesce(pg_catalog.jsonb_agg(d.dep_slug order by d.dep_slug), '[]'::jsonb)
          from pgflow.deps as d
          where d.flow_slug = s.flow_slug and d.flow_version = s.flow_version and d.step_slug = s.step_slug
        ) as depends_on
      from pgflow.step_states as ss
      inner join pgflow.steps as s
        on s.flow_slug = ss.flow_slug and s.flow_version = ss.flow_version and s.step_slug = ss.step_slug
      left join lateral (
        select
          pg_catalog.count(*)::int as total_tasks,
          (pg_catalog.count(*) filter (where tk.status = 'completed'))::int as completed_tasks,
          pg_catalog.sum(tk.attempt)::int as attempts
        from pgflow.step_tasks as tk
        where tk.run_id = ss.run_id and tk.step_slug = ss.step_slug
      ) as t on true
      where ss.run_id = r.run_id
    ) as st
  ) as steps
  where r.run_id = get_run_status.run_id;

  if v_status is null then
    raise exception using
      errcode = 'PF006',
      message = pg_catalog.format('run %s does not exist', get_run_status.run_id);
  end if;
  return v_status;
end;
$$;

comment on function pgflow.get_run_status(uuid) is
'The status of a run as JSON: its priority, counts of steps and tasks, percentage, input, output, error and one '
'entry per step in topological order. A sub-flow step''s entry also has "subflow" (the child flow) and "child_runs" '
'([{"task_index", "run_id", "status"}], the latest child run of each task); a child run has "parent" ({"run_id", '
'"step_slug", "task_index"}). PF006 for an unknown run.';

-- Called by `pgflow runs` and dashboards: the most recent runs, optionally of one flow and status.
create or replace function pgflow.list_runs(
  flow_slug text default null, status text default null, max_runs int default 50
)
returns setof pgflow.runs
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
  if list_runs.status not in ('started', 'completed', 'failed', 'cancelled') then
    perform pgflow._bad_argument(
      'list_runs', 'status', 'null or one of started, completed, failed, cancelled', list_runs.status
    );
  end if;
  if list_runs.max_runs is null or list_runs.max_runs not between 0 and 10000 then
    perform pgflow._bad_argument('list_runs', 'max_runs', 'an integer from 0 to 10000', list_runs.max_runs::text);
  end if;
  return query
  select r.*
  from pgflow.runs as r
  where (list_runs.flow_slug is null or r.flow_slug = list_runs.flow_slug)
    and (list_runs.status is null or r.status = list_runs.status)
  order by r.started_at desc, r.run_id
  limit list_runs.max_runs;
end;
$$;

comment on function pgflow.list_runs(text, text, int) is
'The most recent runs (newest first), optionally only those of one flow and one status.';

-- Called by `pgflow graph` and tools that draw flows: one version of a flow (the current one by
-- default) as JSON, steps in topological order with their dependencies and effective options.
create or replace function pgflow.describe_flow(flow_slug text, version int default null)
returns jsonb
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_flow pgflow.flows;
begin
  perform pgflow._check_not_null('describe_flow', 'flow_slug', describe_flow.flow_slug is null);
  select f.* into v_flow
  from pgflow.flows as f
  where f.flow_slug = describe_flow.flow_slug
    and (f.version = describe_flow.version or (describe_flow.version is null and f.is_current));
  if not found then
    raise exception using
      errcode = 'PF004',
      message = case
        when describe_flow.version is null
          then pg_catalog.format('flow %s does not exist', pgflow._shown(describe_flow.flow_slug))
        else pg_catalog.format(
          'flow %s has no version %s', pgflow._shown(describe_flow.flow_slug), describe_flow.version
        )
      end;
  end if;

  return pg_catalog.jsonb_build_object(
    'flow_slug', v_flow.flow_slug,
    'version', v_flow.version,
    'is_current', v_flow.is_current,
    'max_attempts', v_flow.max_attempts,
    'base_delay', v_flow.base_delay,
    'max_delay', v_flow.max_delay,
    'timeout', v_flow.timeout,
    'created_at', v_flow.created_at,
    'steps', (
      select coalesce(pg_catalog.jsonb_agg(
        pg_catalog.jsonb_build_object(
          'step_slug', s.step_slug,
          'step_type', s.step_type,
          'depends_on', (
            select coalesce(pg_catalog.jsonb_agg(d.dep_slug order by d.dep_slug), '[]'::jsonb)
            from pgflow.deps as d
            where d.flow_slug = s.flow_slug and d.flow_version = s.flow_version and d.step_slug = s.step_slug
          ),
          'max_attempts', s.max_attempts,
          'base_delay', s.base_delay,
          'max_delay', s.max_delay,
          'timeout', s.timeout,
          'start_delay', s.start_delay,
          'if', s.condition_if,
          'if_not', s.condition_if_not,
          'when_unmet', s.when_unmet,
          'when_exhausted', s.when_exhausted,
          'concurrency', s.concurrency,
          'concurrency_key', s.concurrency_key,
          'rate_limit', s.rate_limit
        )
        -- a sub-flow step: its child flow (sql/024_subflows.sql)
        || case
          when s.subflow_slug is not null then pg_catalog.jsonb_build_object('subflow', s.subflow_slug)
          else '{}'::jsonb
        end
        -- a typed step: the JSON Schemas of its input and output, those it has
        || case when s.input_schema is null then '{}'::jsonb
          else pg_catalog.jsonb_build_object('input_schema', s.input_schema) end
        || case when s.output_schema is null then '{}'::jsonb
          else pg_catalog.jsonb_build_object('output_schema', s.output_schema) end
        order by s.step_index
      ), '[]'::jsonb)
      from pgflow.steps as s
      where s.flow_slug = v_flow.flow_slug and s.flow_version = v_flow.version
    )
  );
end;
$$;

comment on function pgflow.describe_flow(text, int) is
'One version of a flow (the current one by default) as JSON: options, is_current and steps in topological order, '
'each with its effective options, flow control included (concurrency, concurrency_key: the bucket key path, '
'rate_limit; null when absent), a sub-flow step''s child flow as subflow, and a typed step''s JSON Schemas as '
'input_schema and output_schema (objects; only the keys a step has). PF004 when the flow or version does not exist.';

-- Called by `pgflow status --outputs`, Client.get_step_outputs and dashboards: what each step of a run returned,
-- including the intermediate steps a run's output leaves out.
create or replace function pgflow.get_step_outputs(run_id uuid)
returns jsonb
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_outputs jsonb;
begin
  perform pgflow._check_not_null('get_step_outputs', 'run_id', get_step_outputs.run_id is null);
  if not exists (select from pgflow.runs as r where r.run_id = get_step_outputs.run_id) then
    raise exception using
      errcode = 'PF006',
      message = pg_catalog.format('run %s does not exist', get_step_outputs.run_id);
  end if;
  select coalesce(pg_catalog.jsonb_object_agg(ss.step_slug, ss.output), '{}'::jsonb) into v_outputs
  from pgflow.step_states as ss
  where ss.run_id = get_step_outputs.run_id and ss.status = 'completed';
  return v_outputs;
end;
$$;

comment on function pgflow.get_step_outputs(uuid) is
'The outputs of a run''s completed steps as a JSON object {step_slug: output} (a map step''s output is the array '
'of its task outputs, in order). Steps that were skipped, failed, cancelled or have not completed yet are absent '
'(their errors are in get_run_status). PF006 for an unknown run, PF005 for a null run_id.';

-- Called by `pgflow flows` and deploy tools: every version of every flow (or of one), with which one is current,
-- when it was defined, its steps and how many of its runs are in flight (read from the partial index
-- runs_in_flight, so finished runs cost nothing). Flows by slug, each newest version first.
create or replace function pgflow.list_flow_versions(flow_slug text default null)
returns jsonb
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
  return (
    select coalesce(pg_catalog.jsonb_agg(
      pg_catalog.jsonb_build_object(
        'flow_slug', f.flow_slug,
        'version', f.version,
        'is_current', f.is_current,
        'created_at', f.created_at,
        'steps', (
          select coalesce(pg_catalog.jsonb_agg(s.step_slug order by s.step_index), '[]'::jsonb)
          from pgflow.steps as s
          where s.flow_slug = f.flow_slug and s.flow_version = f.version
        ),
        'runs_in_flight', (
          select pg_catalog.count(*)
          from pgflow.runs as r
          where r.flow_slug = f.flow_slug and r.flow_version = f.version and r.status = 'started'
        )
      )
      order by f.flow_slug, f.version desc
    ), '[]'::jsonb)
    from pgflow.flows as f
    where list_flow_versions.flow_slug is null or f.flow_slug = list_flow_versions.flow_slug
  );
end;
$$;

comment on function pgflow.list_flow_versions(text) is
'Every version of every flow (or of the named one) as a JSON array ordered by flow, newest version first: '
'[{"flow_slug", "version", "is_current", "created_at", "steps": [step_slug, ...] in topological order, '
'"runs_in_flight": runs of that version still started}]. An unknown flow gives [].';

-- Called by dashboards and `get_run_status` readers that show what a task received: its input as the engine builds
-- it (pgflow._subflow_task_input, the rule of poll_for_tasks), whatever the task's status.
create or replace function pgflow.get_task_input(run_id uuid, step_slug text, task_index int)
returns jsonb
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
  perform pgflow._check_not_null('get_task_input', 'run_id', get_task_input.run_id is null);
  perform pgflow._check_not_null('get_task_input', 'step_slug', get_task_input.step_slug is null);
  perform pgflow._check_not_null('get_task_input', 'task_index', get_task_input.task_index is null);
  perform pgflow._check_task_exists(get_task_input.run_id, get_task_input.step_slug, get_task_input.task_index);
  return pgflow._subflow_task_input(get_task_input.run_id, get_task_input.step_slug, get_task_input.task_index);
end;
$$;

comment on function pgflow.get_task_input(uuid, text, int) is
'The input a task receives, as poll_for_tasks builds it: a map task''s element; else the run input (a root step) or '
'{dependency: output} over its completed dependencies (a skipped one absent). JSON. PF007 when the task does not '
'exist; PF005 for null arguments.';
