-- Prepares a freshly migrated test database for pg_prove: pgTAP, plpgsql_check and the helpers in
-- tests_sql/helpers/ (schema pgflow_tests). Run once by scripts/run_tests.py before the test files.

create extension if not exists pgtap;
create extension if not exists plpgsql_check;

drop schema if exists pgflow_tests cascade;
create schema pgflow_tests;
