-- get_run_status of a failed run: status failed, finished_at set, and the run's error names the failing step and
-- carries its error; the failing step's entry is failed with an error.
begin;
select plan(5);

select pgflow.define_flow(
  'status_failed',
  '[{"slug": "extract"},
    {"slug": "load_invoices", "depends_on": ["extract"]},
    {"slug": "notify", "depends_on": ["extract"]}]',
  '{"max_attempts": 1}'
);
select run_id from pgflow.start_run('status_failed', '{}') \gset
select pgflow_tests.complete(:'run_id', 'extract', '"rows"');
select pgflow_tests.claim_and_fail(:'run_id', 'load_invoices', 'disk full');
select pgflow.get_run_status(:'run_id') as doc \gset

select is(:'doc'::jsonb ->> 'status', 'failed', 'the run is failed');
select isnt(:'doc'::jsonb -> 'finished_at', 'null'::jsonb, 'finished_at is set');
select matches(:'doc'::jsonb ->> 'error', 'load_invoices', 'the run''s error names the failing step');
select matches(:'doc'::jsonb ->> 'error', 'disk full', 'the run''s error carries the step''s error');
select results_eq(
  format(
    $$
      select e.step ->> 'status', e.step ->> 'error' is not null
      from jsonb_array_elements(%L::jsonb -> 'steps') as e (step)
      where e.step ->> 'step_slug' = 'load_invoices'
    $$,
    :'doc'
  ),
  $$values ('failed', true)$$,
  'the failing step''s entry is failed, with an error'
);

select finish();
rollback;
