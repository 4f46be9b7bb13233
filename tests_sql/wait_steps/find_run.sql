-- find_run: the run of a flow with an idempotency key; PF006 when none has it; PF005 for null or empty arguments.
begin;
select plan(7);

select pgflow.define_flow('orders', '[{"slug": "payment", "type": "wait"}]');
select pgflow.define_flow('refunds', '[{"slug": "x"}]');
select run_id from pgflow.start_run('orders', '{"order": 42}', idempotency_key => 'order-42') \gset
select pgflow.start_run('refunds', '{}', idempotency_key => 'order-42');

select is((pgflow.find_run('orders', 'order-42')).run_id, :'run_id'::uuid, 'the run with the key is found');
select is((pgflow.find_run('orders', 'order-42')).input, '{"order": 42}'::jsonb, 'the whole run row is returned');
select ok(pgflow.signal((pgflow.find_run('orders', 'order-42')).run_id, 'payment', '"paid"'), 'and can be signalled');
select throws_ok(
  $$select pgflow.find_run('orders', 'order-43')$$, 'PF006',
  'no run of flow ''orders'' has idempotency key ''order-43''', 'no run with the key is PF006'
);
select throws_ok($$select pgflow.find_run('nope', 'order-42')$$, 'PF006', null, 'an unknown flow is PF006');
select throws_ok($$select pgflow.find_run(null, 'order-42')$$, 'PF005', null, 'a null flow_slug is PF005');
select throws_ok($$select pgflow.find_run('orders', '')$$, 'PF005', null, 'an empty key is PF005');

select finish();
rollback;
