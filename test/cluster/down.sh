#!/usr/bin/env bash
# `npm run cluster:down`: stops every process cluster:up started (by pid), the containers they ran, unmounts
# what they mounted, removes the pod network and the state. The build cache stays.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.sh"
source "$here/processes.sh"
export PATH="$K8S_BIN:$PATH"

stop_pid() { # stop_pid NAME: TERM, then KILL after a grace period
  local file="$STATE/pids/$1.pid" pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null
  fi
  rm -f "$file"
}

if [ -d "$STATE" ]; then
  # the kubelet first, so nothing restarts containers; then the pods' containers, through containerd's shims
  for name in local-path-provisioner kubelet kube-router kube-proxy kube-scheduler kube-controller-manager kube-apiserver; do stop_pid "$name"; done
  if [ -S "$CONTAINERD_SOCK" ]; then
    for task in $(ctr --address "$CONTAINERD_SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr --address "$CONTAINERD_SOCK" -n k8s.io tasks kill -s SIGKILL "$task" >/dev/null 2>&1
    done
  fi
  sleep 1
  # shims outlive containerd by design; ours are the ones whose -address is our socket
  pkill -9 -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK" 2>/dev/null
  stop_pid containerd
  stop_pid etcd
  # whatever the pods left mounted under the state dir (volumes, rootfs, shm), deepest first
  grep -F " $STATE/" /proc/mounts | awk '{print $2}' | sort -r | while read -r mount; do umount -l "$mount" 2>/dev/null; done
  grep -F " /run/containerd/" /proc/mounts | awk '{print $2}' | sort -r | while read -r mount; do umount -l "$mount" 2>/dev/null; done
fi

# network: kube-proxy's and kube-router's rules (and ipsets), our guard chain, the bridge and the pods' veths
command -v kube-proxy >/dev/null && kube-proxy --cleanup >/dev/null 2>&1
command -v kube-router >/dev/null && kube-router --cleanup-config >/dev/null 2>&1
iptables -t mangle -D FORWARD -j "$GUARD_CHAIN" 2>/dev/null
iptables -t mangle -F "$GUARD_CHAIN" 2>/dev/null && iptables -t mangle -X "$GUARD_CHAIN" 2>/dev/null
# the guard's place before it moved to the mangle table, on machines whose cluster is older than that
iptables -D FORWARD -j "$GUARD_CHAIN" 2>/dev/null
iptables -F "$GUARD_CHAIN" 2>/dev/null && iptables -X "$GUARD_CHAIN" 2>/dev/null
ip link del "$BRIDGE" 2>/dev/null

# the containerd config cluster:up wrote where real nodes keep theirs; one that was there before comes back.
# The node agent's hosts directories under $CONTAINERD_CERTS_DIR go with the Registries' deletion, not here.
if [ -f "$CONTAINERD_CONFIG" ] && head -n 1 "$CONTAINERD_CONFIG" | grep -qF "$CONTAINERD_CONFIG_MARKER"; then
  rm -f "$CONTAINERD_CONFIG"
  if [ -f "$CONTAINERD_CONFIG.before-regop" ]; then mv "$CONTAINERD_CONFIG.before-regop" "$CONTAINERD_CONFIG"; fi
fi

rm -rf "$STATE"
leftover=$(pgrep -f "$K8S_BIN/|containerd --config $STATE" || true)
if [ -n "$leftover" ]; then
  echo "cluster processes still running: $leftover" >&2
  exit 1
fi
echo "cluster down"
