-- The idempotency key is scoped to the flow: the same key on another flow starts a different run, and a run
-- started without a key is never matched.
begin;
select plan(4);

select pgflow.define_flow('idem_per_flow_one', '[{"slug": "a"}]');
select pgflow.define_flow('idem_per_flow_two', '[{"slug": "a"}]');
select run_id as one_id from pgflow.start_run('idem_per_flow_one', '{}', idempotency_key => 'same-key') \gset
select run_id as two_id from pgflow.start_run('idem_per_flow_two', '{}', idempotency_key => 'same-key') \gset

select isnt(:'two_id'::uuid, :'one_id'::uuid, 'the same key on another flow starts a different run');
select is(
  (select flow_slug from pgflow.runs where run_id = :'two_id'), 'idem_per_flow_two', 'the new run is of the other flow'
);
select is(
  (select count(*)::int from pgflow.step_tasks where run_id = :'two_id'), 1, 'the new run has its own task'
);

select run_id as nokey_a from pgflow.start_run('idem_per_flow_one', '{}') \gset
select run_id as nokey_b from pgflow.start_run('idem_per_flow_one', '{}') \gset
select is(
  (select count(distinct run_id)::int from pgflow.runs where run_id in (:'one_id', :'nokey_a', :'nokey_b')), 3,
  'runs without a key are always new runs'
);

select finish();
rollback;
