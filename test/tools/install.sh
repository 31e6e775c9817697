#!/usr/bin/env bash
# Installs every client tool the registry tests and benchmarks need, idempotently:
#   apt:  skopeo, podman, buildah, docker-registry (CNCF distribution, for side-by-side runs), apache2-utils, jq,
#         and what podman/buildah need as root with a private vfs store (uidmap, fuse-overlayfs, runc), and chromium (the UI tests drive it with playwright-core)
#   Go:   oras, crane, regctl, helm, actionlint, versitygw (an S3 server) and the OCI distribution-spec conformance suite, pinned, built once into
#         ~/.cache/regop/tools/<tool>-<version>/ and linked from ~/.cache/regop/tools/bin (see test/tools/env.sh).
# A warm run (everything present) only checks and relinks: a few seconds.
set -euo pipefail

ORAS_VERSION=v1.3.6
CRANE_VERSION=v0.22.1
REGCTL_VERSION=v0.11.7
HELM_VERSION=v3.21.4
ACTIONLINT_VERSION=v1.7.12
# an S3-compatible server (Apache-2.0) for the S3 storage driver's tests and benchmark: `versitygw posix DIR`
VERSITYGW_VERSION=v1.8.0
# The conformance suite (github.com/opencontainers/distribution-spec/conformance) is its own Go module and has
# no release tags of its own: the v1.1.x repository tags do not version it, and the module proxy serves no
# version of it at the v1.1.1 commit. This pin is the suite on main, which tests distribution-spec 1.1
# (OCI_VERSION=1.1), still accepts the v1.1.x suite's variables (OCI_ROOT_URL, OCI_TEST_PUSH, ...) and writes
# junit.xml, report.html and results.yaml. Upstream builds it with `go build` (`go test -c` is deprecated there).
CONFORMANCE_VERSION=v0.0.0-20260831232431-97274622c111

CACHE="${REGOP_CACHE:-$HOME/.cache/regop}"
TOOLS="$CACHE/tools"
BIN="$TOOLS/bin"
export PATH="/usr/local/go/bin:$PATH"
export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" GOFLAGS=-trimpath CGO_ENABLED=0 GOTOOLCHAIN=local
mkdir -p "$BIN"

started=$SECONDS
step() { printf '== [%3ss] %s\n' "$((SECONDS - started))" "$*"; }

# ---- apt packages, only the missing ones
apt_packages=(skopeo podman buildah docker-registry apache2-utils jq uidmap fuse-overlayfs runc curl chromium)
missing=()
for package in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  step "apt-get install ${missing[*]}"
  sudo=()
  if [ "$(id -u)" != 0 ]; then sudo=(sudo); fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  step "apt: ${apt_packages[*]}: present"
fi

if ! command -v go >/dev/null; then
  echo "install.sh: Go is needed to build the client tools (expected in /usr/local/go/bin)" >&2
  exit 1
fi

# ---- Go tools: go_tool NAME VERSION PACKAGE builds PACKAGE@VERSION into its own versioned directory, once
go_tool() {
  local name=$1 version=$2 package=$3 dir="$TOOLS/$1-$2"
  if [ -x "$dir/$name" ]; then
    step "$name $version: cached"
  else
    step "$name $version: go install $package"
    mkdir -p "$dir"
    GOBIN="$dir" nice -n 10 go install "$package@$version"
  fi
  ln -sfn "$dir/$name" "$BIN/$name"
}

go_tool oras "$ORAS_VERSION" oras.land/oras/cmd/oras
go_tool crane "$CRANE_VERSION" github.com/google/go-containerregistry/cmd/crane
go_tool regctl "$REGCTL_VERSION" github.com/regclient/regclient/cmd/regctl
go_tool helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm
# checks the GitHub workflow that runs the e2e suite on kind (test/project/workflows.test.ts)
go_tool actionlint "$ACTIONLINT_VERSION" github.com/rhysd/actionlint/cmd/actionlint
go_tool versitygw "$VERSITYGW_VERSION" github.com/versity/versitygw/cmd/versitygw

conformance_dir="$TOOLS/conformance-$CONFORMANCE_VERSION"
if [ -x "$conformance_dir/conformance" ]; then
  step "conformance $CONFORMANCE_VERSION: cached"
else
  step "conformance $CONFORMANCE_VERSION: go build"
  work=$(mktemp -d)
  # a throwaway module that requires the suite, so it builds from the module cache with the suite's own go.sum
  (
    cd "$work"
    go mod init regop.invalid/conformance >/dev/null 2>&1
    go get "github.com/opencontainers/distribution-spec/conformance@$CONFORMANCE_VERSION"
    mkdir -p "$conformance_dir"
    nice -n 10 go build -o "$conformance_dir/conformance.tmp" github.com/opencontainers/distribution-spec/conformance
    mv "$conformance_dir/conformance.tmp" "$conformance_dir/conformance"
  )
  rm -rf "$work"
fi
ln -sfn "$conformance_dir/conformance" "$BIN/oci-conformance"

step "done; tools in $BIN (source test/tools/env.sh to put them on PATH)"
