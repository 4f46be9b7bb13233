-- poll_for_tasks returns setof pgflow.task, the composite (run_id uuid, flow_slug text, step_slug text,
-- task_index int, attempt int, input jsonb, flow_input jsonb, deadline timestamptz) of SPEC 3.3, filled in
-- for a claimed root task (its input and flow_input are the run input).
begin;
select plan(3);

select function_returns('pgflow', 'poll_for_tasks', array['text', 'text[]', 'integer', 'jsonb'], 'setof pgflow.task');
select results_eq(
  $$select a.attname::text collate "default", format_type(a.atttypid, a.atttypmod)
    from pg_attribute as a
    where a.attrelid = (select typrelid from pg_type where oid = 'pgflow.task'::regtype)
      and a.attnum > 0 and not a.attisdropped
    order by a.attnum$$,
  $$values
    ('run_id', 'uuid'), ('flow_slug', 'text'), ('step_slug', 'text'), ('task_index', 'integer'),
    ('attempt', 'integer'), ('input', 'jsonb'), ('flow_input', 'jsonb'),
    ('deadline', 'timestamp with time zone')$$,
  'pgflow.task has the columns of SPEC 3.3, in order'
);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow('task_composite', '[{"slug": "root", "timeout": 30}]');
select run_id from pgflow.start_run('task_composite', '{"n": 7}') \gset

select results_eq(
  $$select * from pgflow.poll_for_tasks('composite_worker', array['task_composite'])$$,
  format(
    $$values (%L::uuid, 'task_composite'::text, 'root'::text, 0, 1, '{"n": 7}'::jsonb, '{"n": 7}'::jsonb,
      '2030-01-01 12:00:30+00'::timestamptz)$$,
    :'run_id'
  ),
  'the claimed root task: its run, flow, step, index 0, attempt 1, the run input twice, now + timeout'
);

select finish();
rollback;
