#!/usr/bin/env bash
# Builds the pinned Kubernetes components from Go modules into ~/.cache/regop/k8s-<version>/bin, once.
# k8s.io/kubernetes cannot be `go install`ed directly (its go.mod replaces the staging repos with local paths),
# so a throwaway module requires it and replaces every staging repo with its published v0.X.Y twin.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.sh"
export PATH="/usr/local/go/bin:$PATH"
# the checksum database has no entries for some staging modules the proxy serves; the proxy is the trust anchor
export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" GOFLAGS=-trimpath CGO_ENABLED=0 GONOSUMDB=k8s.io GONOSUMCHECK=1
mkdir -p "$K8S_BIN"

components=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
need=()
for c in "${components[@]}"; do [ -x "$K8S_BIN/$c" ] || need+=("$c"); done

if ((${#need[@]})); then
  work="$K8S_DIR/build-module"
  mkdir -p "$work"
  cd "$work"
  if [ ! -f go.mod ]; then
    echo "== preparing a build module for k8s.io/kubernetes@$KUBERNETES_VERSION"
    go mod init regop.invalid/k8s-build >/dev/null 2>&1
    go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" >/dev/null
    upstream=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    # every `k8s.io/x => ./staging/src/k8s.io/x` becomes `k8s.io/x => k8s.io/x v0.X.Y`
    {
      echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
      echo "replace ("
      grep -E '^\s*k8s.io/[a-z0-9-]+ => ./staging/' "$upstream" | awk -v v="$KUBERNETES_STAGING_VERSION" '{print "\t" $1 " => " $1 " " v}'
      echo ")"
    } >> go.mod
    printf 'package tools\n\nimport (\n' > tools.go
    for c in "${components[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c" >> tools.go; done
    printf ')\n' >> tools.go
    sed -i '1i //go:build tools' tools.go
    go mod tidy >/dev/null 2>&1 || go mod tidy
  fi
  for c in "${need[@]}"; do
    echo "== go build $c ($KUBERNETES_VERSION)"
    nice -n 10 go build -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)" \
      -o "$K8S_BIN/$c" "k8s.io/kubernetes/cmd/$c"
  done
fi

# build_from_module NAME PACKAGE VERSION: modules whose go.mod has replace directives cannot be `go install`ed; a
# throwaway module that requires the package at that version builds it from its published dependencies
build_from_module() {
  local name=$1 package=$2 version=$3
  [ -x "$K8S_BIN/$name" ] && return
  echo "== go build $name ($version)"
  local work="$K8S_DIR/build-$name"
  rm -rf "$work" && mkdir -p "$work"
  (cd "$work" && go mod init "regop.invalid/build-$name" >/dev/null 2>&1 \
    && go get "$package@$version" >/dev/null \
    && nice -n 10 go build -ldflags "-s -w" -o "$K8S_BIN/$name" "$package")
}

build_from_module etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
build_from_module coredns github.com/coredns/coredns "$COREDNS_VERSION"
build_from_module kube-router github.com/cloudnativelabs/kube-router/v2/cmd/kube-router "$KUBE_ROUTER_VERSION"
build_from_module local-path-provisioner github.com/rancher/local-path-provisioner "$LOCAL_PATH_PROVISIONER_VERSION"
echo "== components in $K8S_BIN"
