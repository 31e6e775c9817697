#!/usr/bin/env bash
# Installs every client tool the registry tests and benchmarks need, idempotently:
#   apt:  skopeo, podman, buildah, docker-registry (CNCF distribution, for side-by-side runs), ...
#   Go:   oras, crane, regctl, helm and the OCI distribution-spec conformance suite, pinned, built once into
#         ~/.cache/regop/tools/<tool>-<version>/ and linked from ~/.cache/regop/tools/bin.
set -euo pipefail

ORAS_VERSION=v1.3.6
CRANE_VERSION=v0.22.1
REGCTL_VERSION=v0.11.7
HELM_VERSION=v3.21.4
# the conformance suite is a module without release tags; this is its main branch as of the pin (it tests
# distribution-spec 1.1 by default, with OCI_VERSION)
CONFORMANCE_VERSION=v0.0.0-20260831232431-97274622c111

CACHE="${REGOP_CACHE:-$HOME/.cache/regop}"
TOOLS="$CACHE/tools"
BIN="$TOOLS/bin"
export PATH="/usr/local/go/bin:$PATH"
export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" GOFLAGS=-trimpath CGO_ENABLED=0
mkdir -p "$BIN"

step() { printf '== %s\n' "$*"; }

apt_packages=(skopeo podman buildah docker-registry apache2-utils jq uidmap fuse-overlayfs)
missing=()
for package in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  step "apt: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# go_tool NAME VERSION PACKAGE: builds PACKAGE@VERSION into its own versioned directory, once
go_tool() {
  local name=$1 version=$2 package=$3 dir="$TOOLS/$1-$2"
  if [ ! -x "$dir/$name" ]; then
    step "go install $package@$version"
    mkdir -p "$dir"
    GOBIN="$dir" nice -n 10 go install "$package@$version"
  fi
  ln -sfn "$dir/$name" "$BIN/$name"
}

go_tool oras "$ORAS_VERSION" oras.land/oras/cmd/oras
go_tool crane "$CRANE_VERSION" github.com/google/go-containerregistry/cmd/crane
go_tool regctl "$REGCTL_VERSION" github.com/regclient/regclient/cmd/regctl
go_tool helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm

conformance_dir="$TOOLS/conformance-$CONFORMANCE_VERSION"
if [ ! -x "$conformance_dir/conformance" ]; then
  step "conformance suite $CONFORMANCE_VERSION"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # a throwaway module that requires the suite, so `go test -c` can build it from the module cache
  (cd "$work" && go mod init regop.invalid/conformance >/dev/null 2>&1 \
    && go get "github.com/opencontainers/distribution-spec/conformance@$CONFORMANCE_VERSION" >/dev/null 2>&1 \
    && mkdir -p "$conformance_dir" \
    && nice -n 10 go build -o "$conformance_dir/conformance" github.com/opencontainers/distribution-spec/conformance)
fi
ln -sfn "$conformance_dir/conformance" "$BIN/oci-conformance"

step "tools in $BIN"
