#!/usr/bin/env bash
# `npm test`: every check and every suite (unit, integration, browser, Redis, Durable Streams
# conformance on each store). Nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
npx tsc -p tsconfig.json --noEmit
npx biome check .
node scripts/build.mjs
mapfile -t files < <(find test -name '*.test.ts' | sort)
if [ "$#" -gt 0 ]; then files=("$@"); fi
# The Durable Streams conformance suite is written for vitest: its own runner, once per store.
if [ "$#" -eq 0 ]; then bash scripts/conformance.sh; fi
exec node --import tsx --test --test-concurrency="${TEST_CONCURRENCY:-4}" --test-timeout=300000 \
  --test-reporter=spec "${files[@]}"
