# Pinned versions of the local cluster. This machine has cgroup v1 and Debian 12's containerd 1.6: Kubernetes 1.35
# refuses cgroup v1 by default and 1.36 drops containerd 1.x, so the pin stays below 1.35. 1.33.13 is the newest
# release whose staging modules (k8s.io/api, k8s.io/kube-proxy, ... at v0.33.13) the Go module proxy we can reach
# serves completely (1.31.14 lacks k8s.io/kube-proxy there, 1.34.13 lacks k8s.io/kubernetes).
KUBERNETES_VERSION=v1.33.13
# the staging repositories carry the same minor/patch as v0.X.Y
KUBERNETES_STAGING_VERSION=v0.33.13
ETCD_VERSION=v3.5.21
COREDNS_VERSION=v1.14.7
PAUSE_VERSION=3.10
LOCAL_PATH_PROVISIONER_VERSION=v0.0.30
# NetworkPolicy enforcement: kube-router's firewall alone (no routing, no service proxy), iptables and ipset.
# sig-network's kube-network-policies was the first choice, but it queues packets with nftables' `queue`
# statement, and this kernel is built without CONFIG_NFT_QUEUE. kube-router has security advisories against
# v2.1.0 (the newest the module proxy serves); here it only enforces policies between our own test pods.
KUBE_ROUTER_VERSION=v2.1.0
# Debian's busybox-static, for local-path-provisioner's helper pods
BUSYBOX_VERSION=1.35

CACHE="${REGOP_CACHE:-$HOME/.cache/regop}"
K8S_DIR="$CACHE/k8s-$KUBERNETES_VERSION"
K8S_BIN="$K8S_DIR/bin"
STATE="${REGOP_CLUSTER_STATE:-$CACHE/cluster}"

# our own address ranges: pods, services, and the node's address on the pod bridge
POD_CIDR=10.217.0.0/16
SERVICE_CIDR=10.218.0.0/16
BRIDGE=regop0
NODE_IP=10.217.0.1
API_SERVICE_IP=10.218.0.1
DNS_SERVICE_IP=10.218.0.10
CLUSTER_DOMAIN=cluster.local
