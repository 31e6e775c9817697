# The cluster's certificates and kubeconfigs, made with openssl: one CA signs the API server's serving cert and
# every client cert (admin, controller-manager, scheduler, kubelet, kube-proxy); a key pair signs service
# account tokens. Sourced by up.sh with versions.sh already loaded.

make_cert() { # make_cert NAME SUBJECT [SANS]: signs $PKI/NAME.crt with the cluster CA
  local name=$1 subject=$2 sans=${3:-}
  [ -f "$PKI/$name.crt" ] && return
  openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subject" -out "$PKI/$name.csr" 2>/dev/null
  local ext="$PKI/$name.ext"
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n' > "$ext"
  [ -n "$sans" ] && printf 'subjectAltName=%s\n' "$sans" >> "$ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 365 -sha256 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$ext"
}

make_kubeconfig() { # make_kubeconfig NAME CERT SERVER
  local name=$1 cert=$2 server=$3
  cat > "$STATE/$name.kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: regop-local
    cluster:
      certificate-authority: $PKI/ca.crt
      server: $server
users:
  - name: $name
    user:
      client-certificate: $PKI/$cert.crt
      client-key: $PKI/$cert.key
contexts:
  - name: regop-local
    context: { cluster: regop-local, user: $name }
current-context: regop-local
KUBECONFIG
}

make_pki() {
  PKI="$STATE/pki"
  mkdir -p "$PKI"
  if [ ! -f "$PKI/ca.crt" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 365 \
      -subj "/CN=regop-local-cluster-ca" 2>/dev/null
  fi
  [ -f "$PKI/sa.key" ] || { openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null; openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null; }
  make_cert apiserver "/CN=kube-apiserver" \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN,DNS:localhost,IP:127.0.0.1,IP:$NODE_IP,IP:$API_SERVICE_IP"
  make_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  make_cert admin "/O=system:masters/CN=regop-admin"
  make_cert controller-manager "/CN=system:kube-controller-manager"
  make_cert scheduler "/CN=system:kube-scheduler"
  make_cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" "DNS:$NODE_NAME,DNS:localhost,IP:$NODE_IP,IP:127.0.0.1"
  make_cert kube-proxy "/CN=system:kube-proxy"
  # the API server listens on the node address, which pods reach too
  local server="https://$NODE_IP:6443"
  make_kubeconfig admin admin "$server"
  make_kubeconfig controller-manager controller-manager "$server"
  make_kubeconfig scheduler scheduler "$server"
  make_kubeconfig kubelet kubelet "$server"
  make_kubeconfig kube-proxy kube-proxy "$server"
}
