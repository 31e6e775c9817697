#!/usr/bin/env bash
# The project's test command (`npm test`): typecheck, then every test file in one node:test run, so the last
# line is the runner's summary. Needs the client tools from test/tools/install.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f test/tools/env.sh ]; then source test/tools/env.sh; fi

echo "== typecheck"
tsc -p tsconfig.json --noEmit

files=(
  'registry/src/**/*.test.ts'
  'operator/src/**/*.test.ts'
  'test/unit/**/*.test.ts'
  'test/registry/**/*.test.ts'
)
echo "== tests"
exec node --test --test-reporter=spec --test-concurrency="${TEST_CONCURRENCY:-2}" --test-timeout=1200000 "${files[@]}"
