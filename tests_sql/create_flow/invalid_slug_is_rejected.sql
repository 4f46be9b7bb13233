-- create_flow validates like define_flow: a bad flow slug or a bad option is PF001, and nothing is written.
begin;
select plan(5);

select throws_ok($$select pgflow.create_flow('9lives')$$, 'PF001', null, 'a slug starting with a digit');
select throws_ok($$select pgflow.create_flow('my-flow')$$, 'PF001', null, 'a slug with a hyphen');
select throws_ok($$select pgflow.create_flow('bad_create_opts', -1)$$, 'PF001', null, 'max_attempts -1');
select throws_ok($$select pgflow.create_flow('bad_create_opts', 3, 1, 0)$$, 'PF001', null, 'timeout 0');
select is(
  (select count(*)::int from pgflow.flows where flow_slug in ('9lives', 'my-flow', 'bad_create_opts')), 0,
  'nothing was written'
);

select finish();
rollback;
