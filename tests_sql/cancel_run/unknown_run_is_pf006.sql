-- Cancelling a run that does not exist raises PF006 and creates nothing.
begin;
select plan(2);

select throws_ok(
  $$select pgflow.cancel_run('00000000-0000-4000-8000-00000000c0de')$$, 'PF006', null,
  'cancelling an unknown run: PF006'
);
select is_empty(
  $$select from pgflow.runs where run_id = '00000000-0000-4000-8000-00000000c0de'$$, 'no run was created'
);

select finish();
rollback;
