-- flow_versions must be null (SQL or JSON null) or {"flow_slug": [version, ...]}: anything else is PF005
-- naming the argument, and nothing is claimed.
begin;
select plan(9);

select pgflow.define_flow('shape_flow', '[{"slug": "a"}]');
select pgflow.start_run('shape_flow');

select throws_ok(
  $$select pgflow.poll_for_tasks('w', null, 10, '[1]')$$, 'PF005',
  'poll_for_tasks: flow_versions must be null (every version) or a JSON object {"flow_slug": [version, ...]} of at '
  'most 1,000 flow slugs, each with an array of at most 1,000 versions (integers from 1), got ''[1]''',
  'an array is PF005 naming flow_versions'
);
select throws_ok(
  $$select pgflow.poll_for_tasks('w', null, 10, '{"shape_flow": 1}')$$, 'PF005', null, 'a version not in an array'
);
select throws_ok(
  $$select pgflow.poll_for_tasks('w', null, 10, '{"shape_flow": [0]}')$$, 'PF005', null, 'version 0'
);
select throws_ok(
  $$select pgflow.poll_for_tasks('w', null, 10, '{"shape_flow": [1.5]}')$$, 'PF005', null, 'a fraction'
);
select throws_ok(
  $$select pgflow.poll_for_tasks('w', null, 10, '{"shape_flow": ["1"]}')$$, 'PF005', null, 'a string'
);
select throws_ok(
  $$select pgflow.poll_for_tasks('w', null, 10, '{"bad slug": [1]}')$$, 'PF005', null, 'a key that is no slug'
);
select throws_ok(
  $$select pgflow.poll_for_tasks_lean('w', null, 10, '"x"')$$, 'PF005', null, 'poll_for_tasks_lean checks it too'
);
select is(
  pgflow_tests.run_status((select run_id from pgflow.runs where flow_slug = 'shape_flow')), 'started',
  'the run is untouched'
);
select is(
  (select count(*)::int from pgflow.poll_for_tasks('w', null, 10, 'null'::jsonb)), 1, 'JSON null means every version'
);

select finish();
rollback;
