#!/usr/bin/env bash
# The end-to-end suite on kind, for machines with Docker: create the cluster from kind-config.yaml, build the
# image with Docker, load it into kind, install the chart and run the e2e suites that hold on any cluster
# (test/e2e/operator). The other two are about the local cluster of host processes and stay with npm test:
# test/e2e/cluster proves that cluster is real (a random NodePort on the host, which kind does not publish) and
# test/e2e/teardown takes it down and checks no kubelet or etcd process is left (kind's node processes would be).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
if ! command -v docker >/dev/null || ! docker info >/dev/null 2>&1; then
  echo "kind.sh needs a running Docker engine (none found); on this kind of machine use npm test, which runs the e2e suite on the local cluster" >&2
  exit 1
fi
for tool in kind helm; do command -v "$tool" >/dev/null || { echo "kind.sh needs $tool on the PATH" >&2; exit 1; }; done

cluster=regop-e2e
kind get clusters | grep -qx "$cluster" || kind create cluster --config kind-config.yaml --wait 120s
export KUBECONFIG="$root/.kind-kubeconfig"
kind get kubeconfig --name "$cluster" > "$KUBECONFIG"

docker build -t regop:dev .
kind load docker-image regop:dev --name "$cluster"

# the runnable image the in-cluster pull tests push to a Registry (the local cluster builds it from Debian's
# busybox-static; with Docker it is pulled), at the archive path those tests read
source test/cluster/versions.sh
busybox_archive="$CACHE/images/busybox-$BUSYBOX_VERSION.tar"
if [ ! -f "$busybox_archive" ]; then
  mkdir -p "$(dirname "$busybox_archive")"
  docker pull "busybox:$BUSYBOX_VERSION"
  docker save -o "$busybox_archive" "busybox:$BUSYBOX_VERSION"
fi

export REGOP_IMAGE=regop:dev REGOP_E2E_CLUSTER=kind
node --test --test-reporter=spec --test-concurrency=1 'test/e2e/operator/*.test.ts'
