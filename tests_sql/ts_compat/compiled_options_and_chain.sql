-- A flow as pgflow's compiler writes it (create_flow with the flow's options, then one add_step per step in
-- definition order: dependencies as a positional ARRAY, options in named notation) runs here unchanged: every
-- option lands in pgflow.steps, max_attempts 0 means one attempt, and a run goes through to its output.
begin;
select plan(6);

select lives_ok(
  $sql$
SELECT pgflow.create_flow('ts_analyze', max_attempts => 4, base_delay => 2, timeout => 30);
SELECT pgflow.add_step('ts_analyze', 'website');
SELECT pgflow.add_step('ts_analyze', 'sentiment', ARRAY['website'], max_attempts => 5, base_delay => 3, timeout => 20, start_delay => 7);
SELECT pgflow.add_step('ts_analyze', 'summary', ARRAY['website'], timeout => 45);
SELECT pgflow.add_step('ts_analyze', 'save_to_db', ARRAY['sentiment', 'summary'], max_attempts => 0);
  $sql$,
  'the compiled statements run'
);
select results_eq(
  $$select max_attempts, base_delay, timeout, version from pgflow.flows where flow_slug = 'ts_analyze'$$,
  $$values (4, 2::numeric, 30::numeric, 1)$$,
  'create_flow''s options are the flow''s, in version 1'
);
select results_eq(
  $$select s.step_slug, s.step_type, s.max_attempts, s.base_delay, s.timeout, s.start_delay, s.deps_count
    from pgflow.steps as s where s.flow_slug = 'ts_analyze' order by s.step_index$$,
  $$values ('website', 'single', 4, 2::numeric, 30::numeric, 0::numeric, 0),
           ('sentiment', 'single', 5, 3::numeric, 20::numeric, 7::numeric, 1),
           ('summary', 'single', 4, 2::numeric, 45::numeric, 0::numeric, 1),
           ('save_to_db', 'single', 1, 2::numeric, 30::numeric, 0::numeric, 2)$$,
  'step options override the flow''s, unset ones inherit them, max_attempts 0 is one attempt'
);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select run_id from pgflow.start_flow('ts_analyze', '{"url": "https://example.com"}') \gset
select pgflow_tests.complete(:'run_id', 'website', '{"content": "hello"}');
select pgflow_tests.advance('7 seconds');
select pgflow_tests.complete(:'run_id', 'sentiment', '{"score": 0.9}');
select pgflow_tests.complete(:'run_id', 'summary', '"short"');
select is(
  (select input from pgflow_tests.claim(:'run_id', 'save_to_db')),
  '{"sentiment": {"score": 0.9}, "summary": "short"}'::jsonb,
  'a step with two dependencies gets {dependency: output}'
);
select ok(
  pgflow.complete_task(:'run_id', 'save_to_db', 0, '{"saved": true}'), 'the last step completes'
);
select results_eq(
  format($$select status, output from pgflow.runs where run_id = %L$$, :'run_id'),
  $$values ('completed', '{"save_to_db": {"saved": true}}'::jsonb)$$,
  'the run completes with its leaf''s output'
);

select finish();
rollback;
