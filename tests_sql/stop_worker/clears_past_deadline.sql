-- stop_worker() clears past_deadline: a stopped worker runs no handler, and `pgflow workers --all` must not list
-- what it said at its last heartbeat.
begin;
select plan(2);

select pgflow_tests.set_now('2030-01-01 12:00:00+00');
select pgflow.heartbeat(
  'stop_late', null, null,
  '[{"run_id": "00000000-0000-0000-0000-000000000001", "step_slug": "s", "task_index": 0, "attempt": 1, '
  '"deadline": "2030-01-01 11:59:00+00"}]'
);
select is(
  (select jsonb_array_length(past_deadline) from pgflow.workers where worker_id = 'stop_late'), 1,
  'the heartbeat recorded one handler past its deadline'
);
select pgflow.stop_worker('stop_late');
select is(
  (select past_deadline from pgflow.workers where worker_id = 'stop_late'), '[]'::jsonb,
  'stop_worker cleared it'
);

select finish();
rollback;
