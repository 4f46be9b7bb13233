-- What a schedule can never do to the polls or to other sessions: a stored time zone that no longer reads stops that
-- schedule (last_error), not the poll; next_cron_tick refuses an infinite "after" (PF005) and says null past the
-- end of the range of times; a cron is at most 255 characters; an abbreviation means the same in every session; a
-- slug stays with its flow (PF008).
begin;
select plan(9);

select pgflow_tests.set_now('2030-01-01 00:00:00+00');
select pgflow.define_flow('hard', '[{"slug": "s"}]');
select pgflow.define_flow('hard_other', '[{"slug": "s"}]');
select pgflow.create_schedule('hard_tz', 'hard', '* * * * *');
select pgflow.create_schedule('hard_ok', 'hard', '* * * * *');
-- a zone the tz database no longer has
update pgflow.schedules set timezone = 'Nowhere/Gone' where schedule_slug = 'hard_tz';
select pgflow_tests.set_now('2030-01-01 00:01:00+00');
select lives_ok($$select * from pgflow.poll_for_tasks('w', array['nothing'])$$, 'the poll goes on');
select results_eq(
  $$select next_tick = 'infinity', last_error like '%no longer reads%' from pgflow.schedules
    where schedule_slug = 'hard_tz'$$,
  $$values (true, true)$$, 'that schedule stops, saying why'
);
select is(
  (select count(*)::int from pgflow.runs where schedule_slug = 'hard_ok'), 1, 'the other schedule started its tick'
);

select throws_ok(
  $$select pgflow.next_cron_tick('* * * * *', 'infinity')$$, 'PF005', null, 'an infinite "after" is PF005'
);
select is(pgflow.next_cron_tick('0 0 1 1 *', '294276-06-01'), null, 'no tick before the end of the range: null');
select throws_like(
  format($$select pgflow.next_cron_tick(%L, now())$$, '0' || repeat(',0', 200)),
  '%cron must be at most 255 characters%', 'a cron longer than 255 characters is PF001'
);

set local timezone_abbreviations = 'Australia';
select is(
  pgflow.next_cron_tick('0 9 * * *', '2030-01-01 00:00:00+00', 'EST'), '2030-01-01 14:00:00+00',
  'EST is UTC-5 whatever the session''s abbreviations say'
);
reset timezone_abbreviations;

select throws_ok(
  $$select pgflow.create_schedule('hard_ok', 'hard_other', '* * * * *')$$, 'PF008', null,
  'a slug of another flow''s schedule is PF008'
);
select is(
  (select flow_slug from pgflow.schedules where schedule_slug = 'hard_ok'), 'hard', 'and the schedule keeps its flow'
);

select finish();
rollback;
