-- The flow-control options are part of the definition (a change is a new version; an equal definition, keys in
-- any order, is the same version), land in pgflow.steps, and describe_flow shows them. A definition without them
-- normalizes as before they existed. add_step takes them too.
begin;
select plan(8);

select pgflow.define_flow('fc_def', '[{"slug": "a"}]');
select is(
  (pgflow.define_flow('fc_def', '[{"slug": "a", "concurrency": null, "rate_limit": null}]')).version, 1,
  'null options are absent options: the same version'
);
select is(
  (select f.definition -> 'steps' -> 0 ? 'concurrency' from pgflow.flows as f where f.flow_slug = 'fc_def'), false,
  'a definition without flow control has no such keys'
);
select is(
  (pgflow.define_flow(
    'fc_def',
    '[{"slug": "a", "concurrency": 3, "concurrency_key": ["tenant"], "rate_limit": {"per": 60, "limit": 100}}]'
  )).version,
  2, 'adding flow control makes a new version'
);
select is(
  (pgflow.define_flow(
    'fc_def',
    '[{"rate_limit": {"limit": 100, "per": 60}, "concurrency_key": ["tenant"], "slug": "a", "concurrency": 3}]'
  )).version,
  2, 'the same options written in another order are the same version'
);
select is(
  (pgflow.define_flow(
    'fc_def',
    '[{"slug": "a", "concurrency": 4, "concurrency_key": ["tenant"], "rate_limit": {"per": 60, "limit": 100}}]'
  )).version,
  3, 'another cap is another version'
);
select is(
  (select pg_catalog.jsonb_build_object('c', s -> 'concurrency', 'k', s -> 'concurrency_key', 'r', s -> 'rate_limit')
   from pg_catalog.jsonb_array_elements(pgflow.describe_flow('fc_def', 2) -> 'steps') as s),
  '{"c": 3, "k": ["tenant"], "r": {"limit": 100, "per": 60}}'::jsonb,
  'describe_flow shows the options'
);

select pgflow.define_flow('fc_rate_key', '[{"slug": "a", "rate_limit": {"limit": 1, "per": 0.5, "key": ["org"]}}]');
select is(
  (select row(s.concurrency, s.concurrency_key, s.rate_limit)::text from pgflow.steps as s
   where s.flow_slug = 'fc_rate_key'),
  row(null::int, array['org'], '{"limit": 1, "per": 0.5, "key": ["org"]}'::jsonb)::text,
  'steps.concurrency_key holds the bucket key path, from rate_limit.key when concurrency_key is absent'
);

select pgflow.create_flow('fc_add');
select pgflow.add_step(
  'fc_add', 'a', concurrency => 2, concurrency_key => array['tenant', 'id'], rate_limit => '{"limit": 5, "per": 1}'
);
select is(
  (select s -> 'concurrency_key' from pg_catalog.jsonb_array_elements(pgflow.describe_flow('fc_add') -> 'steps') as s),
  '["tenant", "id"]'::jsonb,
  'add_step takes them'
);

select finish();
rollback;
