-- Exhaustion with when_exhausted "skip-cascade": the step and everything downstream of it (a chain and a step
-- also fed by an independent branch) become skipped; the independent branch still completes and the run
-- completes with the completed leaves' outputs.
begin;
select plan(6);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.define_flow(
  'exhaust_cascade',
  '[{"slug": "a", "depends_on": [], "max_attempts": 1, "when_exhausted": "skip-cascade"},
    {"slug": "b", "depends_on": ["a"]},
    {"slug": "c", "depends_on": ["b"]},
    {"slug": "x", "depends_on": []},
    {"slug": "y", "depends_on": ["x", "b"]},
    {"slug": "z", "depends_on": ["x"]}]'
);
select run_id from pgflow.start_run('exhaust_cascade') \gset
select bag_eq($$select step_slug from pgflow_tests.poll('exhaust_cascade')$$, $$values ('a'), ('x')$$, 'a and x start');

select is(pgflow.fail_task(:'run_id', 'a', 0, 'boom', 1), true, 'a''s last attempt fails');
select results_eq(
  format($$select step_slug, status from pgflow.step_states where run_id = %L order by step_slug$$, :'run_id'),
  $$values ('a', 'skipped'), ('b', 'skipped'), ('c', 'skipped'), ('x', 'started'), ('y', 'skipped'), ('z', 'created')$$,
  'a and everything downstream of it are skipped; x keeps running'
);

select ok(pgflow.complete_task(:'run_id', 'x', 0, '"X"', 1), 'x completes');
select ok(pgflow_tests.complete(:'run_id', 'z', '"Z"'), 'z completes');
select results_eq(
  format($$select status, output from pgflow.runs where run_id = %L$$, :'run_id'),
  $$values ('completed', '{"z": "Z"}'::jsonb)$$,
  'the run completes with the output of its completed leaf'
);

select finish();
rollback;
