-- A flow slug must be 1 to 128 letters, digits and underscores, not starting with a digit: anything
-- else is PF001 and writes nothing. The boundaries (128 characters, a lone underscore) are accepted.
begin;
select plan(10);

select throws_ok($$select pgflow.define_flow('1flow', '[{"slug": "a"}]')$$, 'PF001', null, 'digit first');
select throws_ok($$select pgflow.define_flow('my-flow', '[{"slug": "a"}]')$$, 'PF001', null, 'a hyphen');
select throws_ok($$select pgflow.define_flow('my flow', '[{"slug": "a"}]')$$, 'PF001', null, 'a space');
select throws_ok($$select pgflow.define_flow('café', '[{"slug": "a"}]')$$, 'PF001', null, 'a non-ASCII letter');
select throws_ok($$select pgflow.define_flow('', '[{"slug": "a"}]')$$, 'PF001', null, 'empty');
select throws_ok($$select pgflow.define_flow(null, '[{"slug": "a"}]')$$, 'PF001', null, 'null');
select throws_ok(
  format($$select pgflow.define_flow(%L, '[{"slug": "a"}]')$$, repeat('f', 129)), 'PF001', null, '129 characters'
);
select is(
  (
    select count(*)::int from pgflow.flows
    where flow_slug in ('1flow', 'my-flow', 'my flow', 'café', '') or length(flow_slug) > 128
  ),
  0,
  'no flow was written'
);

select lives_ok(
  format($$select pgflow.define_flow(%L, '[{"slug": "a"}]')$$, repeat('f', 128)), '128 characters are accepted'
);
select lives_ok($$select pgflow.define_flow('_', '[{"slug": "a"}]')$$, 'a lone underscore is accepted');

select finish();
rollback;
