#!/usr/bin/env bash
# Installs Debian's chromium for the real-browser tests (Playwright's own browser download fails offline).
# Never fails the build: when it cannot install, it says why and the browser tests skip with that reason.
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install_browser: chromium is missing and this user cannot apt-get it; browser tests will be skipped." >&2
  exit 0
fi
echo "install_browser: installing Debian's chromium for the real-browser tests..."
export DEBIAN_FRONTEND=noninteractive
if ! (apt-get update -qq && apt-get install -y -qq chromium fonts-dejavu-core) >/tmp/treerisk-apt.log 2>&1; then
  echo "install_browser: apt-get could not install chromium (see /tmp/treerisk-apt.log); browser tests will be skipped." >&2
fi
exit 0
