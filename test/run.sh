#!/usr/bin/env bash
# The project's test command (`npm test`): installs (or finds cached) the client tools, typechecks, then runs
# every test: unit tests, the registry against real clients and the OCI conformance suite, and the end-to-end
# suites on a real cluster. Without KUBECONFIG the local cluster is used, brought up first if needed (and taken
# down again at the end if this run started it). On a fresh clone `npm ci && npm test` is all it takes.
# The last line sums up the whole run.
set -uo pipefail
cd "$(dirname "$0")/.."
logs=$(mktemp -d)
status=0

echo "== client tools (test/tools/install.sh)"
bash test/tools/install.sh || exit 1
source test/tools/env.sh

echo "== typecheck"
tsc -p tsconfig.json --noEmit || exit 1

teardown=0
if [ -z "${KUBECONFIG:-}" ]; then
  source test/cluster/versions.sh
  if ! (source test/cluster/processes.sh && cluster_healthy) 2>/dev/null; then
    echo "== local cluster"
    bash test/cluster/up.sh || exit 1
    teardown=1
  fi
  echo "== image under test, into the cluster"
  bash test/image/build.sh || exit 1
fi

files=(
  'registry/src/**/*.test.ts'
  'operator/src/**/*.test.ts'
  'test/registry/**/*.test.ts'
  'test/project/*.test.ts'
  'test/e2e/cluster/*.test.ts'
  'test/e2e/operator/*.test.ts'
)
echo "== tests"
node --test --test-reporter=spec --test-concurrency="${TEST_CONCURRENCY:-1}" --test-timeout=1200000 "${files[@]}" 2>&1 | tee "$logs/main.log"
status=${PIPESTATUS[0]}

if ((teardown)); then
  echo "== cluster:down"
  node --test --test-reporter=spec test/e2e/teardown/*.test.ts 2>&1 | tee "$logs/teardown.log"
  ((PIPESTATUS[0] == 0)) || status=1
fi

sum() { grep -hE "^ℹ $1 [0-9]+$" "$logs"/*.log | awk '{n += $3} END {print n + 0}'; }
echo "regop: $(sum pass) passed, $(sum fail) failed"
exit "$status"
