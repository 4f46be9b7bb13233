-- get_run_status describes each step: step_slug, step_type, status, total_tasks, completed_tasks, attempts and
-- error. In fetch -> spread (map) -> last, after fetch completed on its second attempt and one of spread's two
-- elements completed: fetch is single/completed/1/1/2 attempts/no error, spread is map/started/2/1, last is
-- single/created with no tasks, no attempts and no error.
begin;
select plan(4);

select pgflow.define_flow(
  'status_fields',
  '[{"slug": "fetch"}, {"slug": "spread", "type": "map"}, {"slug": "last"}]',
  '{"max_attempts": 3, "base_delay": 0}'
);
select run_id from pgflow.start_run('status_fields', '{}') \gset
select pgflow_tests.claim_and_fail(:'run_id', 'fetch', 'network hiccup');
select pgflow_tests.complete(:'run_id', 'fetch', '["x", "y"]');
select pgflow_tests.complete(:'run_id', 'spread', '"X"', 0);

select is(
  (select jsonb_array_length(pgflow.get_run_status(:'run_id') -> 'steps')), 3, 'one entry per step'
);
select results_eq(
  format(
    $$
      select
        e.step ->> 'step_type', e.step ->> 'status', (e.step ->> 'total_tasks')::int,
        (e.step ->> 'completed_tasks')::int, (e.step ->> 'attempts')::int, e.step -> 'error'
      from jsonb_array_elements(pgflow.get_run_status(%L) -> 'steps') as e (step)
      where e.step ->> 'step_slug' = 'fetch'
    $$,
    :'run_id'
  ),
  $$values ('single', 'completed', 1, 1, 2, 'null'::jsonb)$$,
  'fetch: single, completed, 1 task, 1 completed, 2 attempts, no error'
);
select results_eq(
  format(
    $$
      select e.step ->> 'step_type', e.step ->> 'status', (e.step ->> 'total_tasks')::int,
        (e.step ->> 'completed_tasks')::int, e.step -> 'error'
      from jsonb_array_elements(pgflow.get_run_status(%L) -> 'steps') as e (step)
      where e.step ->> 'step_slug' = 'spread'
    $$,
    :'run_id'
  ),
  $$values ('map', 'started', 2, 1, 'null'::jsonb)$$,
  'spread: map, started, 2 tasks, 1 completed, no error'
);
select results_eq(
  format(
    $$
      select
        e.step ->> 'step_type', e.step ->> 'status', (e.step ->> 'total_tasks')::int,
        (e.step ->> 'completed_tasks')::int, (e.step ->> 'attempts')::int, e.step -> 'error'
      from jsonb_array_elements(pgflow.get_run_status(%L) -> 'steps') as e (step)
      where e.step ->> 'step_slug' = 'last'
    $$,
    :'run_id'
  ),
  $$values ('single', 'created', 0, 0, 0, 'null'::jsonb)$$,
  'last: single, created, no tasks, no attempts, no error'
);

select finish();
rollback;
