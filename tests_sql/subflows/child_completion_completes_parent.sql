-- A child run that completes completes its parent task with the child's output, through the normal completion path:
-- the sub-flow step completes, its dependents start, the parent run completes; notifications are sent for the
-- parent's new tasks and for both runs finishing. A grandchild completing completes its parent, which completes the
-- grandparent, in one transaction.
begin;
select plan(11);

select pgflow.define_flow('sf_leaf', '[{"slug": "l"}]');
select pgflow.define_flow('sf_mid', '[{"slug": "m", "flow": "sf_leaf"}]');
select pgflow.define_flow('sf_top', '[{"slug": "t", "flow": "sf_mid"}, {"slug": "after"}]');
select run_id from pgflow.start_run('sf_top', '{"k": 1}') \gset
select pgflow_tests.child_run(:'run_id', 't') as mid \gset
select pgflow_tests.child_run(:'mid', 'm') as leaf \gset
select
  is(
    (select input from pgflow.runs where run_id = :'leaf'),
    '{"k": 1}'::jsonb,
    'the grandchild gets the input down the chain'
  );

listen pgflow;
select ok(pgflow_tests.complete(:'leaf', 'l', '"done"'), 'the grandchild''s task completes');
select is(pgflow_tests.run_status(:'leaf'), 'completed', 'the grandchild completes');
select is(pgflow_tests.run_status(:'mid'), 'completed', 'which completes the child');
select is(
  (select output from pgflow.runs where run_id = :'mid'), '{"m": {"l": "done"}}'::jsonb,
  'the child''s output holds its sub-flow step''s output, the grandchild''s output'
);
select is(pgflow_tests.step_status(:'run_id', 't'), 'completed', 'the parent''s sub-flow step completes');
select is(
  (select output from pgflow.step_states where run_id = :'run_id' and step_slug = 't'),
  '{"m": {"l": "done"}}'::jsonb, 'with the child''s output'
);
select is(pgflow_tests.task_status(:'run_id', 'after'), 'queued', 'its dependent is queued');
select is((select count(*)::int from pgflow.runs where parent_settled_at is not null), 2, 'both children are settled');

select ok(pgflow_tests.complete(:'run_id', 'after', '1'), 'the dependent completes');
select is(pgflow_tests.run_status(:'run_id'), 'completed', 'the parent run completes');

select finish();
rollback;
