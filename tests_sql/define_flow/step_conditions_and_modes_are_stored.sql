-- A step's type, conditions (if / if_not) and modes (when_unmet / when_exhausted) land in pgflow.steps.
begin;
select plan(2);

select pgflow.define_flow(
  'stored_modes',
  '[{"slug": "src", "depends_on": []},
    {"slug": "each", "type": "map", "depends_on": ["src"], "when_exhausted": "skip"},
    {"slug": "gated", "depends_on": ["src"], "if": {"src": {"go": true}}, "if_not": {"src": {"stop": true}},
     "when_unmet": "skip-cascade", "when_exhausted": "skip-cascade"},
    {"slug": "strict", "depends_on": ["src"], "if": {"src": {"ok": 1}}, "when_unmet": "fail"}]'
);

select results_eq(
  $$select step_slug, step_type, when_unmet, when_exhausted
    from pgflow.steps where flow_slug = 'stored_modes' order by step_slug$$,
  $$values ('each', 'map', 'skip', 'skip'),
           ('gated', 'single', 'skip-cascade', 'skip-cascade'),
           ('src', 'single', 'skip', 'fail'),
           ('strict', 'single', 'fail', 'fail')$$,
  'types and modes are stored, defaults filled in'
);
select results_eq(
  $$select step_slug, condition_if, condition_if_not
    from pgflow.steps where flow_slug = 'stored_modes' order by step_slug$$,
  $$values ('each', null::jsonb, null::jsonb),
           ('gated', '{"src": {"go": true}}'::jsonb, '{"src": {"stop": true}}'::jsonb),
           ('src', null::jsonb, null::jsonb),
           ('strict', '{"src": {"ok": 1}}'::jsonb, null::jsonb)$$,
  'conditions are stored as given'
);

select finish();
rollback;
