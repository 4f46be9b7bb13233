-- A payload larger than pgflow.max_output_size() is PF005, naming the argument and the limit, and nothing is
-- written: the step keeps waiting and a later signal that fits is recorded.
begin;
select plan(4);

select pgflow.define_flow('big_signal', '[{"slug": "approval", "type": "wait"}]');
select run_id from pgflow.start_run('big_signal', '{}') \gset

select throws_like(
  format($$select pgflow.signal(%L, 'approval', to_jsonb(repeat('x', 70000000)))$$, :'run_id'),
  'signal: payload is % bytes, more than the limit of 67108864 bytes (pgflow.max_output_size())',
  'a payload over the limit is refused'
);
select throws_ok(
  format($$select pgflow.signal(%L, 'approval', to_jsonb(repeat('x', 70000000)))$$, :'run_id'), 'PF005', null,
  '(PF005)'
);
select is(
  (select signalled_at from pgflow.step_states where run_id = :'run_id' and step_slug = 'approval'), null,
  'no signal was recorded'
);
select is(pgflow.signal(:'run_id', 'approval', '"small"'), true, 'a signal that fits is recorded');

select finish();
rollback;
