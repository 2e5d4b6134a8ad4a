#!/usr/bin/env bash
# Makes sure the system packages the test suites use are present: Debian's chromium (browser
# tests through playwright-core), redis-server (Redis store tests), nginx (integration tests),
# python3-h11 and python3-websockets (the HTTP and WebSocket judges) and nchan (the benchmark).
# Installs them with apt-get when running as root, otherwise stops with the exact command to run.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# nginx: test/integration/integrations.test.ts runs examples/nginx.conf in front of hubs.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
# python3-h11: test/integration/conformance.test.ts has h11 (a strict HTTP/1.1 parser) judge every
# answer, with Debian's /usr/bin/python3.
/usr/bin/python3 -c 'import h11' >/dev/null 2>&1 || missing+=(python3-h11)
# python3-websockets: test/integration/websocket-judge.test.ts, an RFC 6455 client that is not ours.
/usr/bin/python3 -c 'import websockets' >/dev/null 2>&1 || missing+=(python3-websockets)
# nchan: `npm run bench` measures nginx+nchan next to cometa (not needed by the tests).
[ -f /usr/lib/nginx/modules/ngx_nchan_module.so ] || missing+=(libnginx-mod-nchan)
if [ "${#missing[@]}" -eq 0 ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "cometa: installing ${missing[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  # The Debian package starts a system redis on port 6379; the tests start their own on a free port.
  (service redis-server stop || true) >/dev/null 2>&1
  # Likewise the Debian nginx package starts a system nginx on port 80; the tests run their own.
  (service nginx stop || true) >/dev/null 2>&1
else
  echo "cometa: the tests need ${missing[*]}. Install them with:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
