-- heartbeat(past_deadline => ...) stores the worker's list of handlers past their deadline in
-- pgflow.workers.past_deadline: replaced by each list given, kept when null is given, '[]' for a new worker and
-- after a stop. Anything but an array of at most 1,000 objects with exactly the five keys of the right types
-- is PF005, naming the argument, and writes nothing.
begin;
select plan(13);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.heartbeat('hb_past_w1', array['f']);
select is(
  (select past_deadline from pgflow.workers where worker_id = 'hb_past_w1'), '[]'::jsonb, 'a new worker has none'
);

select pgflow.heartbeat(
  'hb_past_w1', array['f'], interval '30 seconds',
  '[{"run_id": "3338289f-9c79-49fb-a244-865fe05c5fe9", "step_slug": "slow", "task_index": 2, "attempt": 1,
     "deadline": "2030-01-01T11:59:00+00:00"}]'
);
select is(
  (select past_deadline from pgflow.workers where worker_id = 'hb_past_w1'),
  '[{"run_id": "3338289f-9c79-49fb-a244-865fe05c5fe9", "step_slug": "slow", "task_index": 2, "attempt": 1,
     "deadline": "2030-01-01T11:59:00+00:00"}]'::jsonb,
  'the list is stored as given'
);
select pgflow.heartbeat('hb_past_w1', array['f']);
select is(
  (select jsonb_array_length(past_deadline) from pgflow.workers where worker_id = 'hb_past_w1'), 1,
  'a heartbeat without a list keeps the last one'
);
select pgflow.heartbeat('hb_past_w1', array['f'], null, '[]');
select is(
  (select past_deadline from pgflow.workers where worker_id = 'hb_past_w1'), '[]'::jsonb, 'an empty list clears it'
);

select pgflow.heartbeat(
  'hb_past_w1', array['f'], null,
  '[{"run_id": "3338289f-9c79-49fb-a244-865fe05c5fe9", "step_slug": "slow", "task_index": 0, "attempt": 3,
     "deadline": "2030-01-01 11:59:00+00"}]'
);
select pgflow.stop_worker('hb_past_w1');
select pgflow.heartbeat('hb_past_w1', array['f']);
select is(
  (select past_deadline from pgflow.workers where worker_id = 'hb_past_w1'), '[]'::jsonb,
  'a worker that stopped and beats again starts with none'
);

-- bad shapes, each refused
select throws_like(
  $$select pgflow.heartbeat('hb_past_w2', null, null, '{"run_id": 1}')$$,
  'heartbeat: past_deadline must be null or a JSON array of at most 1,000 objects%',
  'an object instead of an array'
);
select throws_ok(
  $$select pgflow.heartbeat('hb_past_w2', null, null, '[1]')$$, 'PF005', null, 'an element that is not an object'
);
select throws_ok(
  $$select pgflow.heartbeat('hb_past_w2', null, null,
    '[{"run_id": "not-a-uuid", "step_slug": "s", "task_index": 0, "attempt": 1, "deadline": "2030-01-01"}]')$$,
  'PF005', null, 'a run_id that is not a uuid'
);
select throws_ok(
  $$select pgflow.heartbeat('hb_past_w2', null, null,
    '[{"run_id": "3338289f-9c79-49fb-a244-865fe05c5fe9", "step_slug": "s", "task_index": -1, "attempt": 1,
       "deadline": "2030-01-01"}]')$$,
  'PF005', null, 'a negative task_index'
);
select throws_ok(
  $$select pgflow.heartbeat('hb_past_w2', null, null,
    '[{"run_id": "3338289f-9c79-49fb-a244-865fe05c5fe9", "step_slug": "s", "task_index": 0, "attempt": 0.5,
       "deadline": "2030-01-01"}]')$$,
  'PF005', null, 'an attempt that is not a positive integer'
);
select throws_ok(
  $$select pgflow.heartbeat('hb_past_w2', null, null,
    '[{"run_id": "3338289f-9c79-49fb-a244-865fe05c5fe9", "step_slug": "s", "task_index": 0, "attempt": 1,
       "deadline": "soon"}]')$$,
  'PF005', null, 'a deadline that is not a time'
);
select throws_ok(
  $$select pgflow.heartbeat('hb_past_w2', null, null,
    (select jsonb_agg(jsonb_build_object(
      'run_id', '3338289f-9c79-49fb-a244-865fe05c5fe9', 'step_slug', 's', 'task_index', i, 'attempt', 1,
      'deadline', '2030-01-01'
    )) from generate_series(0, 1000) as i))$$,
  'PF005', null, 'more than 1,000 entries'
);
select is((select count(*)::int from pgflow.workers where worker_id = 'hb_past_w2'), 0, 'nothing was written');

select finish();
rollback;
