-- signal refuses what it cannot do, writing nothing: PF006 for an unknown run; PF008 for a run that is not
-- started, a step the run's flow version does not have, a step that is not a wait step; PF005 for null arguments.
begin;
select plan(11);

select pgflow.define_flow('sig', '[{"slug": "work"}, {"slug": "approval", "type": "wait", "depends_on": ["work"]}]');
select run_id from pgflow.start_run('sig', '{}') \gset

select throws_ok(
  $$select pgflow.signal('00000000-0000-0000-0000-000000000001', 'approval')$$, 'PF006',
  'signal: run 00000000-0000-0000-0000-000000000001 does not exist', 'an unknown run is PF006'
);
select throws_like(
  format($$select pgflow.signal(%L, 'nope')$$, :'run_id'), '%has no step ''nope''%', 'an unknown step is PF008'
);
select throws_ok(format($$select pgflow.signal(%L, 'nope')$$, :'run_id'), 'PF008', null, '(its SQLSTATE)');
select throws_ok(
  format($$select pgflow.signal(%L, 'work')$$, :'run_id'), 'PF008',
  'signal: step ''work'' of flow ''sig'' is a single step, not a wait step; only wait steps take signals',
  'a step that is not a wait step is PF008, naming the step and its type'
);
select pgflow.define_flow('sig_child', '[{"slug": "c"}]');
select pgflow.define_flow('sig_parent', '[{"slug": "sub", "flow": "sig_child"}]');
select throws_ok(
  format($$select pgflow.signal(%L, 'sub')$$, (pgflow.start_run('sig_parent', '{}')).run_id), 'PF008',
  'signal: step ''sub'' of flow ''sig_parent'' is a sub-flow step, not a wait step; only wait steps take signals',
  'a sub-flow step is named as one'
);
select throws_ok(format($$select pgflow.signal(%L, null)$$, :'run_id'), 'PF005', null, 'a null step is PF005');
select throws_ok($$select pgflow.signal(null, 'approval')$$, 'PF005', null, 'a null run is PF005');

select pgflow.cancel_run(:'run_id');
select throws_ok(
  format($$select pgflow.signal(%L, 'approval')$$, :'run_id'), 'PF008',
  format('signal: run %s is cancelled; only a started run takes signals', :'run_id'),
  'a signal to a cancelled run is PF008'
);
select is(
  (select signalled_at from pgflow.step_states where run_id = :'run_id' and step_slug = 'approval'), null,
  'nothing was recorded'
);

select run_id as done_id from pgflow.start_run('sig', '{}') \gset
select pgflow_tests.complete(:'done_id', 'work', '1');
select pgflow.signal(:'done_id', 'approval');
select is(pgflow_tests.run_status(:'done_id'), 'completed', 'a second run completed');
select throws_ok(
  format($$select pgflow.signal(%L, 'approval')$$, :'done_id'), 'PF008', null, 'a signal to a completed run is PF008'
);

select finish();
rollback;
