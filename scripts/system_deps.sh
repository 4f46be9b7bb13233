#!/usr/bin/env bash
# Installs the system packages the tests need (pgTAP, pg_prove, plpgsql_check, PgBouncer, Chromium and its
# driver) when they are missing.
# As root on Debian/Ubuntu it uses apt-get; anywhere else it stops and names the packages.
set -euo pipefail

pg_major() {
  local bindir
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n | tail -n 1 || true)
  if [ -n "$bindir" ]; then basename "$(dirname "$bindir")"; return; fi
  if command -v pg_config >/dev/null; then pg_config --version | sed -E 's/[^0-9]*([0-9]+).*/\1/'; return; fi
  echo 15
}

major=$(pg_major)
sharedir=/usr/share/postgresql/$major/extension
missing=()
[ -f "$sharedir/pgtap.control" ] || missing+=("postgresql-$major-pgtap")
command -v pg_prove >/dev/null || missing+=("libtap-parser-sourcehandler-pgtap-perl")
[ -f "$sharedir/plpgsql_check.control" ] || missing+=("postgresql-$major-plpgsql-check")
command -v psql >/dev/null || missing+=("postgresql-client-$major")
[ -x /usr/sbin/pgbouncer ] || command -v pgbouncer >/dev/null || missing+=("pgbouncer")
# the dashboard's browser tests (tests_py/test_dashboard_browser.py) and scripts/screenshots.py
[ -x /usr/bin/chromium ] || missing+=("chromium")
[ -x /usr/bin/chromedriver ] || missing+=("chromium-driver")

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "[pgflow] installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # quiet when it works (debconf's notes included); everything apt-get said when it fails
  if ! out=$(apt-get update -qq 2>&1 && apt-get install -y -qq "${missing[@]}" 2>&1); then
    echo "$out" >&2
    exit 1
  fi
  exit 0
fi

echo "[pgflow] the tests need these packages: ${missing[*]}" >&2
echo "[pgflow] install them (Debian/Ubuntu: sudo apt-get install ${missing[*]}) and run make test again" >&2
exit 1
