-- A signal without a payload, or with SQL NULL, makes the step's output JSON null; a wait step may be the last
-- step (its payload is then part of the run output).
begin;
select plan(4);

select pgflow.define_flow('two_waits', '[{"slug": "a", "type": "wait"}, {"slug": "b", "type": "wait"}]');
select run_id from pgflow.start_run('two_waits', '{}') \gset

select is(pgflow.signal(:'run_id', 'a'), true, 'a signal without payload is recorded');
select is(pgflow.signal(:'run_id', 'b', null), true, 'a signal with SQL NULL is recorded');
select is(pgflow_tests.run_status(:'run_id'), 'completed', 'the run completes');
select is((select output from pgflow.runs where run_id = :'run_id'), '{"b": null}', 'b''s output is JSON null');

select finish();
rollback;
