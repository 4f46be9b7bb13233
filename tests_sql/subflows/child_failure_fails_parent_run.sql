-- With when_exhausted "fail" (the default) and one attempt, a failed child fails the parent run, whose other
-- children (a map's siblings) are cancelled.
begin;
select plan(5);

select pgflow.define_flow('sf_c', '[{"slug": "c", "max_attempts": 1}]');
select pgflow.define_flow('sf_p', '[{"slug": "sub", "type": "map", "flow": "sf_c", "max_attempts": 1}]');
select run_id from pgflow.start_run('sf_p', '[1, 2]') \gset

select pgflow_tests.child_run(:'run_id', 'sub', 0) as first \gset
select ok(pgflow_tests.claim_and_fail(:'first', 'c', 'bad'), 'the first child fails');
select is(pgflow_tests.run_status(:'run_id'), 'failed', 'the parent run fails');
select matches(
  (select error from pgflow.runs where run_id = :'run_id'),
  '^step ''sub'' failed after 1 attempt\(s\): child run .* of flow ''sf_c'' failed: ', 'with the child''s error'
);
select
  is(
    pgflow_tests.run_status(pgflow_tests.child_run(:'run_id', 'sub', 1)), 'cancelled', 'the sibling child is cancelled'
  );
select is(
  (select count(*)::int from pgflow.runs where parent_run_id = :'run_id' and parent_settled_at is null), 0,
  'both children are settled'
);

select finish();
rollback;
