-- start_run accepts named notation with the parameter names of the SPEC: flow_slug, input, run_id,
-- idempotency_key.
begin;
select plan(4);

select pgflow.define_flow('named_notation', '[{"slug": "a"}]');

select lives_ok(
  $$select pgflow.start_run(flow_slug => 'named_notation', input => '{"via": "names"}')$$,
  'flow_slug => and input => work'
);
select is(
  (select input from pgflow.runs where flow_slug = 'named_notation'), '{"via": "names"}'::jsonb,
  'the named input is stored'
);
select is(
  (
    pgflow.start_run(
      idempotency_key => 'k', run_id => 'b0f1f6b2-2f2e-4c55-8f7a-5b8f1d2a3c04', input => '[]',
      flow_slug => 'named_notation'
    )
  ).run_id,
  'b0f1f6b2-2f2e-4c55-8f7a-5b8f1d2a3c04'::uuid,
  'all four names work in any order'
);
select is(
  (pgflow.start_run(flow_slug => 'named_notation', idempotency_key => 'k')).run_id,
  'b0f1f6b2-2f2e-4c55-8f7a-5b8f1d2a3c04'::uuid,
  'the named idempotency_key is used: the same key returns that run'
);

select finish();
rollback;
