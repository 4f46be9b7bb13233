-- SQL written for the earlier parameter list still runs: positional and named calls of the eight parameters
-- flow_slug .. step_type, and this engine's flow-control parameters by name. There is one add_step.
begin;
select plan(5);

select is(
  (select count(*)::int from pg_catalog.pg_proc where proname = 'add_step' and pronamespace = 'pgflow'::regnamespace),
  1, 'one add_step'
);
select lives_ok(
  $sql$
select pgflow.create_flow('ts_earlier', 2, 1, 30);
select pgflow.add_step('ts_earlier', 'a', '{}', 3, 2, 10, 0, 'single');
select pgflow.add_step('ts_earlier', 'b', array['a'], null, null, null, 5, 'map');
select pgflow.add_step(
  flow_slug => 'ts_earlier', step_slug => 'c', deps_slugs => array['b'], step_type => 'single',
  concurrency => 2, rate_limit => '{"limit": 10, "per": 60}'
);
  $sql$,
  'positional and named calls of the earlier list'
);
select results_eq(
  $$select step_slug, step_type, max_attempts, base_delay, timeout, start_delay, concurrency
    from pgflow.steps where flow_slug = 'ts_earlier' order by step_index$$,
  $$values ('a', 'single', 3, 2::numeric, 10::numeric, 0::numeric, null::int),
           ('b', 'map', 2, 1::numeric, 30::numeric, 5::numeric, null),
           ('c', 'single', 2, 1::numeric, 30::numeric, 0::numeric, 2)$$,
  'the arguments land where they belong'
);
select results_eq(
  $$select p.pronargs::int, p.pronargdefaults::int from pg_catalog.pg_proc as p
    where p.proname = 'add_step' and p.pronamespace = 'pgflow'::regnamespace$$,
  $$values (15, 13)$$,
  'pgflow''s twelve parameters and three of this engine''s, all but the slugs with defaults'
);
select is(
  (
    select (pg_catalog.string_to_array(pg_catalog.pg_get_function_identity_arguments(p.oid), ', '))[9:12]
    from pg_catalog.pg_proc as p
    where p.proname = 'add_step' and p.pronamespace = 'pgflow'::regnamespace
  ),
  array[
    'required_input_pattern jsonb', 'forbidden_input_pattern jsonb', 'when_unmet text', 'when_exhausted text'
  ],
  'parameters 9 to 12 are pgflow''s, in pgflow''s order'
);

select finish();
rollback;
