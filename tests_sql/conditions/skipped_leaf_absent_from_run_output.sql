-- The run output holds the completed leaf steps only: a leaf skipped by its condition has no key, and the run
-- still completes.
begin;
select plan(2);

select pgflow.define_flow(
  'cond_skipped_leaf',
  '[{"slug": "root"},
    {"slug": "kept", "depends_on": ["root"]},
    {"slug": "dropped", "depends_on": ["root"], "if": {"root": "never"}}]'
);
select run_id from pgflow.start_run('cond_skipped_leaf', '{}') \gset

select pgflow_tests.complete(:'run_id', 'root', '"r"');
select pgflow_tests.complete(:'run_id', 'kept', '"k"');
select is(pgflow_tests.run_status(:'run_id'), 'completed', 'the run completes');
select is(
  (select output from pgflow.runs where run_id = :'run_id'), '{"kept": "k"}'::jsonb,
  'the skipped leaf has no key in the output'
);

select finish();
rollback;
