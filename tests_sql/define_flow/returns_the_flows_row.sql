-- define_flow returns the pgflow.flows row of the version now current: its flow_slug, version 1 for a
-- new flow, the flow-level options given, and created_at read from the engine's clock.
begin;
select plan(5);

select pgflow_tests.set_now('2031-02-03 04:05:06+00');
select (f).* from (
  select pgflow.define_flow(
    'returns_row', '[{"slug": "a"}]',
    '{"max_attempts": 7, "base_delay": 2.5, "max_delay": 90, "timeout": 45}'
  ) as f
) as defined \gset def_

select is(:'def_flow_slug'::text, 'returns_row', 'flow_slug is the defined slug');
select is(:'def_version'::int, 1, 'a new flow gets version 1');
select is(
  array[:'def_max_attempts', :'def_base_delay', :'def_max_delay', :'def_timeout']::numeric[],
  array[7, 2.5, 90, 45]::numeric[],
  'the flow-level options are the ones given'
);
select is(:'def_created_at'::timestamptz, '2031-02-03 04:05:06+00'::timestamptz, 'created_at is pgflow.now()');
select results_eq(
  $$select flow_slug, version, max_attempts::numeric, base_delay, max_delay, timeout, created_at
    from pgflow.flows where flow_slug = 'returns_row'$$,
  format(
    $$values (%L, %s, %s::numeric, %s::numeric, %s::numeric, %s::numeric, %L::timestamptz)$$,
    :'def_flow_slug', :'def_version', :'def_max_attempts', :'def_base_delay', :'def_max_delay', :'def_timeout',
    :'def_created_at'
  ),
  'the returned row is the stored row'
);

select finish();
rollback;
