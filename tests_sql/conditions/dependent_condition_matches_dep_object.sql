-- A condition on a dependent step is evaluated against its input {dep_slug: dep_output}, not against the bare
-- dependency output nor the run input.
begin;
select plan(3);

select pgflow.define_flow(
  'cond_dep_object',
  '[{"slug": "classify"},
    {"slug": "wrapped", "depends_on": ["classify"], "if": {"classify": {"kind": "spam"}}},
    {"slug": "bare", "depends_on": ["classify"], "if": {"kind": "spam"}},
    {"slug": "from_run", "depends_on": ["classify"], "if": {"source": "mail"}}]'
);
select run_id from pgflow.start_run('cond_dep_object', '{"source": "mail"}') \gset

select pgflow_tests.complete(:'run_id', 'classify', '{"kind": "spam", "p": 0.9}');
select is(
  pgflow_tests.step_status(:'run_id', 'wrapped'), 'started', 'a pattern over {dep: output} matches: the step runs'
);
select is(
  pgflow_tests.step_status(:'run_id', 'bare'), 'skipped', 'a pattern over the bare output does not match: skipped'
);
select is(
  pgflow_tests.step_status(:'run_id', 'from_run'), 'skipped', 'a pattern over the run input does not match: skipped'
);

select finish();
rollback;
