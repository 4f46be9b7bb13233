-- create_flow creates version 1 of a flow without steps, with the options given and the defaults for
-- the others, and returns its pgflow.flows row.
begin;
select plan(4);

select pgflow_tests.set_now('2030-05-05 05:05:05+00');
select (f).* from (select pgflow.create_flow('created', 4, 2, 15) as f) as c \gset cf_

select is(:'cf_version'::int, 1, 'create_flow returns version 1');
select results_eq(
  $$select flow_slug, version, max_attempts, base_delay, max_delay, timeout, created_at
    from pgflow.flows where flow_slug = 'created'$$,
  $$values ('created', 1, 4, 2::numeric, 300::numeric, 15::numeric, '2030-05-05 05:05:05+00'::timestamptz)$$,
  'one version with the given options, the default max_delay and created_at from pgflow.now()'
);
select is(:'cf_created_at'::timestamptz, '2030-05-05 05:05:05+00'::timestamptz, 'the returned row is that version');
select is_empty($$select from pgflow.steps where flow_slug = 'created'$$, 'the new version has no steps');

select finish();
rollback;
