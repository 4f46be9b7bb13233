-- A condition on a dependent step is evaluated against its input {dep_slug: dep_output}, not against the bare
-- dependency output nor the run input. Patterns that could never match that input are refused when a new
-- version is defined (conditions/patterns_are_checked_at_definition.sql); a version written before that rule
-- (made here with the engine's own writer, as an older release wrote it) still runs, and skips such steps.
begin;
select plan(5);

select pgflow.define_flow(
  'cond_dep_object',
  '[{"slug": "classify"},
    {"slug": "wrapped", "depends_on": ["classify"], "if": {"classify": {"kind": "spam"}}}]'
);
select run_id from pgflow.start_run('cond_dep_object', '{"source": "mail"}') \gset
select pgflow_tests.complete(:'run_id', 'classify', '{"kind": "spam", "p": 0.9}');
select is(
  pgflow_tests.step_status(:'run_id', 'wrapped'), 'started', 'a pattern over {dep: output} matches: the step runs'
);

-- an older version with patterns the rule now refuses
select pgflow._insert_flow_version(
  'cond_dep_legacy',
  1,
  pgflow._normalize_definition(
    'cond_dep_legacy',
    '[{"slug": "classify"},
      {"slug": "bare", "depends_on": ["classify"], "if": {"kind": "spam"}},
      {"slug": "from_run", "depends_on": ["classify"], "if": {"source": "mail"}}]',
    '{}'
  ),
  array['classify', 'bare', 'from_run'],
  now()
);
select is(
  (pgflow.define_flow(
    'cond_dep_legacy',
    '[{"slug": "classify"},
      {"slug": "bare", "depends_on": ["classify"], "if": {"kind": "spam"}},
      {"slug": "from_run", "depends_on": ["classify"], "if": {"source": "mail"}}]'
  )).version,
  1,
  'defining it again returns the existing version: the rule applies to new versions only'
);
select run_id as legacy_run from pgflow.start_run('cond_dep_legacy', '{"source": "mail"}') \gset
select pgflow_tests.complete(:'legacy_run', 'classify', '{"kind": "spam", "p": 0.9}');
select is(
  pgflow_tests.step_status(:'legacy_run', 'bare'), 'skipped', 'a pattern over the bare output does not match: skipped'
);
select is(
  pgflow_tests.step_status(:'legacy_run', 'from_run'), 'skipped',
  'a pattern over the run input does not match: skipped'
);
select is(
  (select status from pgflow.runs where run_id = :'legacy_run'), 'completed', 'the older version''s run completes'
);

select finish();
rollback;
