#!/usr/bin/env bash
# `npm start`: the newcomer's path. With no cluster configured (no KUBECONFIG, no ~/.kube/config) it brings up
# the local cluster and builds the image into it; otherwise it uses the configured cluster (the image must be
# available there, e.g. `kind load docker-image regop:dev`). Then it installs the chart, applies a demo Registry,
# waits for it to be Ready and prints how to log in and push.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bash test/tools/install.sh >/dev/null
source test/tools/env.sh
source test/cluster/versions.sh
export PATH="$K8S_BIN:$PATH"

namespace=regop-demo
# 30500 and 30501 are the e2e suites' NodePorts
node_port=30600
if [ -z "${KUBECONFIG:-}" ] && [ ! -f "$HOME/.kube/config" ]; then
  echo "== no cluster configured: starting the local one"
  bash test/cluster/up.sh
  export KUBECONFIG="$STATE/admin.kubeconfig"
  bash test/image/build.sh
  image_repository=regop image_tag=dev
else
  echo "== using the cluster of ${KUBECONFIG:-$HOME/.kube/config}"
  image_repository=${REGOP_IMAGE_REPOSITORY:-regop} image_tag=${REGOP_IMAGE_TAG:-dev}
fi

echo "== helm install regop"
# --take-ownership: CRDs an earlier install left without Helm's labels (the chart's old crds/ folder) are adopted
helm upgrade --install regop charts/regop --namespace regop-system --create-namespace --take-ownership \
  --set image.repository="$image_repository" --set image.tag="$image_tag" --wait --timeout 300s >/dev/null

echo "== demo Registry in namespace $namespace"
kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl apply -n "$namespace" -f - >/dev/null <<YAML
apiVersion: regop.dev/v1alpha1
kind: Registry
metadata:
  name: demo
spec:
  storage: { size: 5Gi }
  service: { type: NodePort, port: 443, nodePort: $node_port }
  auth:
    users:
      - name: admin
YAML
kubectl wait -n "$namespace" registry/demo --for=condition=Ready --timeout=300s >/dev/null

kubectl_cmd=$(command -v kubectl)
certs="$root/.regop-demo/certs/127.0.0.1:$node_port"
mkdir -p "$certs"
kubectl get secret -n "$namespace" demo-ca -o jsonpath='{.data.ca\.crt}' | base64 -d > "$certs/ca.crt"
cat <<TEXT

The demo registry is Ready.
  URL inside the cluster:  $(kubectl get registry -n "$namespace" demo -o jsonpath='{.status.url}')
  From this machine:       https://127.0.0.1:$node_port (NodePort; on kind it is published on 127.0.0.1 too)
  Web UI:                  https://127.0.0.1:$node_port/ui/ (log in as admin; the browser must trust the CA below)
  CA certificate:          $certs/ca.crt (from Secret $namespace/demo-ca)
  Password of user admin:  $kubectl_cmd get secret -n $namespace demo-user-admin -o jsonpath='{.data.password}' | base64 -d

Log in and push:
  export KUBECONFIG=${KUBECONFIG:-$HOME/.kube/config}
  $kubectl_cmd get secret -n $namespace demo-user-admin -o jsonpath='{.data.password}' | base64 -d \\
    | podman login --cert-dir $certs -u admin --password-stdin 127.0.0.1:$node_port
  podman tag <some-image> 127.0.0.1:$node_port/demo/app:v1
  podman push --cert-dir $certs 127.0.0.1:$node_port/demo/app:v1
  (here, as root: add --runtime runc, and for podman run also --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

Take it all down again with: npm run cluster:down
TEXT
