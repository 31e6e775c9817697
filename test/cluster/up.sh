#!/usr/bin/env bash
# `npm run cluster:up`: a real single-node Kubernetes as host processes, built from Go modules at a pinned
# version (versions.sh), networked only to loopback and to the pods' own namespaces. Idempotent: a healthy
# cluster is left as it is. Prints the kubeconfig path last.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.sh"

export PATH="$K8S_BIN:/usr/local/go/bin:$PATH"
source "$here/pki.sh"
source "$here/processes.sh"
started=$SECONDS

step() { printf '== [%3ds] %s\n' $((SECONDS - started)) "$*"; }

if cluster_healthy; then
  step "cluster already running"
  echo "$STATE/admin.kubeconfig"
  exit 0
fi
if [ -d "$STATE" ]; then
  step "a previous cluster is half up: taking it down first"
  bash "$here/down.sh" >/dev/null
fi

step "host packages (containerd, runc, CNI plugins, iptables, ipset, conntrack, openssl)"
packages=(containerd runc containernetworking-plugins iptables ipset conntrack socat openssl ethtool gcc libc6-dev buildah busybox-static curl)
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

step "Kubernetes $KUBERNETES_VERSION components (built once into $K8S_BIN)"
bash "$here/build-components.sh"

mkdir -p "$STATE"/{logs,pids,cni/net.d,containerd,kubelet,etcd}
step "certificates and kubeconfigs"
make_pki

step "pod network: bridge $BRIDGE $NODE_IP on $POD_CIDR, no route off the machine"
setup_network

step "containerd (own config, root and socket)"
write_containerd_config
start_process containerd containerd --config "$STATE/containerd/config.toml"
wait_for "containerd socket" 30 test -S "$CONTAINERD_SOCK"

step "sandbox (pause), CoreDNS and busybox images, built from scratch"
bash "$here/images.sh"

step "etcd"
start_process etcd etcd --name regop --data-dir "$STATE/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster regop=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381 \
  --unsafe-no-fsync --log-level warn
wait_for "etcd" 60 curl -sf http://127.0.0.1:2381/health

step "kube-apiserver"
start_apiserver
wait_for "kube-apiserver" 120 kubectl --kubeconfig "$STATE/admin.kubeconfig" get --raw /readyz

step "kube-controller-manager and kube-scheduler"
start_controller_manager
start_process kube-scheduler kube-scheduler --kubeconfig "$STATE/scheduler.kubeconfig" \
  --authentication-kubeconfig "$STATE/scheduler.kubeconfig" --authorization-kubeconfig "$STATE/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --leader-elect=false

step "kubelet and kube-proxy"
start_kubelet
start_kube_proxy

step "waiting for the node to be Ready"
wait_for "node Ready" 180 node_ready

# it finds its node by name at start, so it starts once the node is registered
step "kube-router (NetworkPolicies)"
start_kube_router
wait_for "kube-router enforcing NetworkPolicies" 120 policies_enforced

step "cluster add-ons: CoreDNS, default StorageClass"
mkdir -p "$STATE/local-path"
sed -e "s/@COREDNS_VERSION@/$COREDNS_VERSION/" -e "s/@DNS_SERVICE_IP@/$DNS_SERVICE_IP/" -e "s/@CLUSTER_DOMAIN@/$CLUSTER_DOMAIN/" \
  -e "s/@BUSYBOX_VERSION@/$BUSYBOX_VERSION/" -e "s#@LOCAL_PATH_DIR@#$STATE/local-path#" \
  "$here/addons.yaml" | kubectl --kubeconfig "$STATE/admin.kubeconfig" apply -f - >/dev/null
start_process local-path-provisioner local-path-provisioner start --kubeconfig "$STATE/admin.kubeconfig" \
  --namespace local-path-storage --configmap-name local-path-config \
  --helper-image "docker.io/library/regop-busybox:$BUSYBOX_VERSION" --service-account-name local-path-provisioner-service-account
wait_for "CoreDNS available" 180 kubectl --kubeconfig "$STATE/admin.kubeconfig" -n kube-system rollout status deployment/coredns --timeout=5s
wait_for "DNS answers kubernetes.default" 60 dns_answers

step "ready in $((SECONDS - started))s"
echo "$STATE/admin.kubeconfig"
