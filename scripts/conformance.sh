#!/usr/bin/env bash
# The Durable Streams conformance suite (vitest) against a live hub, once per store. Arguments
# name the stores (default: memory sqlite redis). Part of `npm test` (scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
stores=("$@")
if [ "${#stores[@]}" -eq 0 ]; then stores=(memory sqlite redis); fi
for store in "${stores[@]}"; do
  echo "== Durable Streams conformance: $store store"
  DS_STORE="$store" npx vitest run --config test/conformance/vitest.config.mts
done
