# Starting, watching and describing the cluster's host processes. Sourced by up.sh and down.sh.
CONTAINERD_SOCK="$STATE/containerd/containerd.sock"
GUARD_CHAIN=REGOP-GUARD
NODE_NAME=regop-node

start_process() { # start_process NAME COMMAND ARGS...: runs in the background, pid and log under $STATE
  local name=$1
  shift
  nohup "$@" >"$STATE/logs/$name.log" 2>&1 &
  echo $! >"$STATE/pids/$name.pid"
}

wait_for() { # wait_for WHAT SECONDS COMMAND...: bounded polling; on timeout shows the logs
  local what=$1 seconds=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS > deadline)); then
      echo "timed out after ${seconds}s waiting for $what" >&2
      for log in "$STATE"/logs/*.log; do echo "--- $log" >&2; tail -n 15 "$log" >&2; done
      return 1
    fi
    sleep 1
  done
}

process_alive() { [ -f "$STATE/pids/$1.pid" ] && kill -0 "$(cat "$STATE/pids/$1.pid")" 2>/dev/null; }

node_ready() {
  kubectl --kubeconfig "$STATE/admin.kubeconfig" get node "$NODE_NAME" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -q True
}

dns_answers() {
  node -e "
    const { Resolver } = require('node:dns').promises;
    const resolver = new Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers(['$DNS_SERVICE_IP']);
    resolver.resolve4('kubernetes.default.svc.$CLUSTER_DOMAIN')
      .then((a) => process.exit(a.includes('$API_SERVICE_IP') ? 0 : 1), () => process.exit(1));"
}

cluster_healthy() {
  [ -f "$STATE/admin.kubeconfig" ] || return 1
  for p in containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kube-router local-path-provisioner; do
    process_alive "$p" || return 1
  done
  node_ready && dns_answers
}

setup_network() {
  sysctl -qw net.ipv4.ip_forward=1
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$NODE_IP/${POD_CIDR#*/}" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
  # pods get routes to pods and services only (no default route); this guard drops anything they send
  # elsewhere even so, and nothing is masqueraded. It sits in the mangle table, which forwarded packets pass
  # before the filter table, where kube-router accepts what the NetworkPolicies admit.
  iptables -t mangle -N "$GUARD_CHAIN" 2>/dev/null || iptables -t mangle -F "$GUARD_CHAIN"
  iptables -t mangle -A "$GUARD_CHAIN" -s "$POD_CIDR" -d "$POD_CIDR" -j RETURN
  iptables -t mangle -A "$GUARD_CHAIN" -s "$POD_CIDR" -j DROP
  iptables -t mangle -C FORWARD -j "$GUARD_CHAIN" 2>/dev/null || iptables -t mangle -I FORWARD 1 -j "$GUARD_CHAIN"
  cat >"$STATE/cni/net.d/10-regop.conflist" <<CNI
{
  "cniVersion": "0.4.0",
  "name": "regop",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "isDefaultGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$STATE/cni/ipam",
        "ranges": [[{ "subnet": "$POD_CIDR", "gateway": "$NODE_IP", "rangeStart": "${POD_CIDR%.*.*}.1.1" }]],
        "routes": [{ "dst": "$SERVICE_CIDR" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true }, "snat": false }
  ]
}
CNI
  printf '# no upstream resolvers: names outside the cluster do not resolve, and nothing leaves this machine\n' >"$STATE/resolv.conf"
}

# containerd's config and registry hosts directory where real nodes (kubeadm, kind) keep them, so the chart's
# node agent works here with its defaults: it writes $CONTAINERD_CERTS_DIR/<host>/hosts.toml and checks
# config_path in $CONTAINERD_CONFIG. The state directory links to the config (up.sh starts containerd with it).
CONTAINERD_CONFIG=/etc/containerd/config.toml
CONTAINERD_CERTS_DIR=/etc/containerd/certs.d
CONTAINERD_CONFIG_MARKER='# written by regop test/cluster/processes.sh'

write_containerd_config() {
  mkdir -p "$(dirname "$CONTAINERD_CONFIG")" "$CONTAINERD_CERTS_DIR"
  if [ -f "$CONTAINERD_CONFIG" ] && ! head -n 1 "$CONTAINERD_CONFIG" | grep -qF "$CONTAINERD_CONFIG_MARKER"; then
    # a config that is not ours (the distribution's default): kept beside, never lost
    mv "$CONTAINERD_CONFIG" "$CONTAINERD_CONFIG.before-regop"
  fi
  cat >"$CONTAINERD_CONFIG" <<TOML
$CONTAINERD_CONFIG_MARKER for the local cluster
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/library/regop-pause:$PAUSE_VERSION"
  enable_selinux = false
  # this machine does not let processes lower their oom_score_adj, which runc does for pod sandboxes (-998)
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        SystemdCgroup = false
  # per-registry hosts for image pulls (<host[:port]>/hosts.toml), as real clusters set it: the node agent
  # writes a Registry's there
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$CONTAINERD_CERTS_DIR"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
TOML
  ln -sfn "$CONTAINERD_CONFIG" "$STATE/containerd/config.toml"
}

start_apiserver() {
  local pki="$STATE/pki"
  start_process kube-apiserver kube-apiserver \
    --advertise-address "$NODE_IP" --bind-address "$NODE_IP" --secure-port 6443 \
    --etcd-servers http://127.0.0.1:2379 \
    --service-cluster-ip-range "$SERVICE_CIDR" --service-node-port-range 30000-32767 \
    --client-ca-file "$pki/ca.crt" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$pki/ca.crt" --kubelet-preferred-address-types InternalIP \
    --service-account-issuer "https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --allow-privileged=true --profiling=false --v=1
}

start_controller_manager() {
  local pki="$STATE/pki"
  start_process kube-controller-manager kube-controller-manager \
    --kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$STATE/controller-manager.kubeconfig" --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" --cluster-cidr "$POD_CIDR" --allocate-node-cidrs=false \
    --controllers '*,-nodeipam,-cloud-node-lifecycle' --v=1
}

start_kubelet() {
  local pki="$STATE/pki"
  cat >"$STATE/kubelet.yaml" <<KUBELET
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $pki/kubelet.crt
tlsPrivateKeyFile: $pki/kubelet.key
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $pki/ca.crt }
authorization: { mode: Webhook }
clusterDomain: $CLUSTER_DOMAIN
clusterDNS: [$DNS_SERVICE_IP]
resolvConf: $STATE/resolv.conf
cgroupDriver: cgroupfs
failSwapOn: false
failCgroupV1: false
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
imageServiceEndpoint: unix://$CONTAINERD_SOCK
# images cannot be pulled again here: never garbage-collect them, never evict for a full-ish disk
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: { memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%" }
serializeImagePulls: false
maxPods: 110
KUBELET
  start_process kubelet kubelet --config "$STATE/kubelet.yaml" --kubeconfig "$STATE/kubelet.kubeconfig" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --root-dir "$STATE/kubelet" --v=1
}

start_kube_proxy() {
  cat >"$STATE/kube-proxy.yaml" <<PROXY
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# NodePorts answer on loopback only
nodePortAddresses: ["127.0.0.0/8"]
clientConnection: { kubeconfig: $STATE/kube-proxy.kubeconfig }
conntrack: { maxPerCore: 0, min: 0 }
PROXY
  start_process kube-proxy kube-proxy --config "$STATE/kube-proxy.yaml" --v=1
}

# NetworkPolicy enforcement, as a CNI plugin with policies would give: kube-router's firewall only
start_kube_router() {
  start_process kube-router kube-router --run-firewall=true --run-router=false --run-service-proxy=false \
    --run-loadbalancer=false --kubeconfig "$STATE/admin.kubeconfig" --hostname-override "$NODE_NAME" \
    --service-cluster-ip-range "$SERVICE_CIDR" --service-node-port-range 30000-32767 \
    --health-port 0 --metrics-port 0 --v=1
}

# kube-router has synced once: its chain is in the filter table's FORWARD chain
policies_enforced() { iptables -S FORWARD | grep -q KUBE-ROUTER-FORWARD; }
