-- Observing runs: get_run_status, the JSON view of one run that dashboards, the CLI and the
-- Python client read.

-- Called by clients (Client.get_run_status, `pgflow status`) and anyone polling progress.
create or replace function pgflow.get_run_status(run_id uuid)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_status jsonb;
begin
  select
    pg_catalog.jsonb_build_object(
      'run_id', r.run_id,
      'flow_slug', r.flow_slug,
      'flow_version', r.flow_version,
      'status', r.status,
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
          order by st.step_index
        ),
        '[]'::jsonb
      ) as list
    from (
      select
        ss.step_slug, s.step_type, s.step_index, ss.status, ss.error, ss.started_at, ss.finished_at,
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
'The status of a run as JSON: counts of steps and tasks, percentage, input, output, error and one entry per step '
'in topological order. PF006 for an unknown run.';
