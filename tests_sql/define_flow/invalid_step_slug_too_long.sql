-- A step slug of 129 characters is PF001 and writes nothing; 128 characters are accepted.
begin;
select plan(4);

select throws_ok(
  format($$select pgflow.define_flow('bad_step_long', '[{"slug": "%s"}]')$$, repeat('s', 129)),
  'PF001', null, 'a 129-character step slug is rejected'
);
select is(pgflow_tests.version_count('bad_step_long'), 0, 'no flow was written');

select lives_ok(
  format($$select pgflow.define_flow('step_128_chars', '[{"slug": "%s"}]')$$, repeat('s', 128)),
  'a 128-character step slug is accepted'
);
select is(
  (select step_slug from pgflow.steps where flow_slug = 'step_128_chars'), repeat('s', 128),
  'the 128-character step is stored'
);

select finish();
rollback;
