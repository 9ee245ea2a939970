#!/usr/bin/env bash
# Installs Debian's PostgreSQL server for the ratings-database tests (tests/test_labelling_database.py).
# Never fails the build: when it cannot install, it says why and the PostgreSQL tests skip with that reason.
# It only installs the package; the tests start their own server on a temporary folder and stop only that one.
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install_postgres: PostgreSQL is missing and this user cannot apt-get it; PostgreSQL tests will be skipped." >&2
  exit 0
fi
echo "install_postgres: installing Debian's postgresql for the ratings-database tests..."
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d 101: the package must not start the system's own cluster; the tests start theirs.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && made_policy=1
fi
if ! (apt-get update -qq && apt-get install -y -qq postgresql) >/tmp/treerisk-apt-postgres.log 2>&1; then
  echo "install_postgres: apt-get could not install postgresql (see /tmp/treerisk-apt-postgres.log); PostgreSQL tests will be skipped." >&2
fi
if [ "$made_policy" = 1 ]; then
  rm -f "$policy"
fi
exit 0
