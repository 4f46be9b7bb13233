-- Defining wait steps: "type": "wait" with depends_on, timeout, conditions, when_unmet, when_exhausted; the
-- options that mean nothing for a wait step are PF001 naming them; the flow's timeout and max_attempts never
-- apply to it; definitions of other flows normalize as before; add_step takes step_type 'wait'.
begin;
select plan(11);

select pgflow.define_flow(
  'defs',
  '[{"slug": "a"}, {"slug": "b"},
    {"slug": "w", "type": "wait", "depends_on": ["a", "b"], "timeout": 86400, "if": {"a": 1},
     "when_unmet": "fail", "when_exhausted": "skip"}]',
  '{"max_attempts": 7, "timeout": 9}'
);
select results_eq(
  $$select step_type, deps_count, max_attempts, timeout, when_unmet, when_exhausted
    from pgflow.steps where flow_slug = 'defs' and step_slug = 'w'$$,
  $$values ('wait'::text, 2, 1, 86400::numeric, 'fail'::text, 'skip'::text)$$,
  'a wait step with two dependencies, its own timeout, never retried'
);
select is(
  (pgflow.define_flow('defs_type', '[{"slug": "w", "type": "wait"}]')).definition -> 'steps' -> 0 -> 'type',
  '"wait"'::jsonb,
  'its normalized type is "wait"'
);

select throws_ok(
  $$select pgflow.define_flow('bad', '[{"slug": "w", "type": "wait", "max_attempts": 3, "start_delay": 1}]')$$,
  'PF001',
  'flow ''bad'', step ''w'': option(s) max_attempts, start_delay mean nothing for a wait step, which is never '
  || 'retried, delayed or run by a worker: a wait step takes only slug, type, depends_on, timeout, if, if_not, '
  || 'when_unmet, when_exhausted',
  'refused options are PF001 naming them and what a wait step takes'
);
select throws_ok(
  $$select pgflow.define_flow('bad', '[{"slug": "w", "type": "wait", "concurrency": 2}]')$$, 'PF001', null,
  'concurrency is refused'
);
select throws_ok(
  $$select pgflow.define_flow('bad', '[{"slug": "w", "type": "wait", "rate_limit": {"limit": 1, "per": 1}}]')$$,
  'PF001', null, 'rate_limit is refused'
);
select throws_ok(
  $$select pgflow.define_flow('bad', '[{"slug": "w", "type": "wait", "base_delay": 1}]')$$, 'PF001', null,
  'base_delay is refused'
);
select throws_ok(
  $$select pgflow.define_flow('bad', '[{"slug": "w", "type": "wait", "timeout": 0}]')$$, 'PF001', null,
  'a timeout out of range is refused as for any step'
);
select is(pgflow_tests.version_count('bad'), 0, 'nothing was written');

-- add_step
select pgflow.create_flow('incremental', timeout => 30);
select pgflow.add_step('incremental', 'first');
select results_eq(
  $$select step_type, max_attempts, timeout
    from pgflow.add_step('incremental', 'approval', array['first'], step_type => 'wait')$$,
  $$values ('wait'::text, 1, null::numeric)$$,
  'add_step adds a wait step, without the flow''s timeout'
);
select throws_ok(
  $$select pgflow.add_step('incremental', 'w2', array['first'], max_attempts => 2, step_type => 'wait')$$,
  'PF001', null, 'add_step refuses a wait step''s max_attempts'
);
select run_id from pgflow.start_run('incremental', '{}') \gset
select pgflow_tests.complete(:'run_id', 'first', '1');
select is(pgflow_tests.step_status(:'run_id', 'approval'), 'started', 'the added wait step waits');

select finish();
rollback;
