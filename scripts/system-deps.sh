#!/usr/bin/env bash
# Makes sure the system packages the test suites use are present: Debian's chromium (browser
# tests through playwright-core) and redis-server (Redis store tests). Installs them with apt-get
# when running as root, otherwise stops with the exact command to run.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ "${#missing[@]}" -eq 0 ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "cometa: installing ${missing[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  # The Debian package starts a system redis on port 6379; the tests start their own on a free port.
  (service redis-server stop || true) >/dev/null 2>&1
else
  echo "cometa: the tests need ${missing[*]}. Install them with:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
