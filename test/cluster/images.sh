#!/usr/bin/env bash
# The images the cluster itself needs, built from scratch since nothing can be pulled: the pod sandbox (a static
# pause binary), CoreDNS (the Go-built binary) and busybox (Debian's static build) for volume helper pods. Cached as archives keyed by version; imported into the
# cluster's containerd when it lacks them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.sh"
source "$here/../image/lib.sh"
sock="$STATE/containerd/containerd.sock"
mkdir -p "$IMAGE_CACHE"

import_image() { # import_image NAME ARCHIVE
  if ! ctr --address "$sock" -n k8s.io images ls -q | grep -qx "$1"; then
    ctr --address "$sock" -n k8s.io images import "$2" >/dev/null
  fi
}

pause_archive="$IMAGE_CACHE/pause-$PAUSE_VERSION.tar"
if [ ! -f "$pause_archive" ]; then
  rootfs=$(mktemp -d)
  gcc -static -O2 -o "$rootfs/pause" "$here/../image/pause.c"
  strip "$rootfs/pause"
  image_from_rootfs "docker.io/library/regop-pause:$PAUSE_VERSION" "$rootfs" "$pause_archive" --entrypoint '["/pause"]' --user 65535:65535
  rm -rf "$rootfs"
fi
import_image "docker.io/library/regop-pause:$PAUSE_VERSION" "$pause_archive"

coredns_archive="$IMAGE_CACHE/coredns-$COREDNS_VERSION.tar"
if [ ! -f "$coredns_archive" ]; then
  rootfs=$(mktemp -d)
  install -D -m 0755 "$K8S_BIN/coredns" "$rootfs/coredns"
  image_from_rootfs "docker.io/library/regop-coredns:$COREDNS_VERSION" "$rootfs" "$coredns_archive" --entrypoint '["/coredns"]'
  rm -rf "$rootfs"
fi
import_image "docker.io/library/regop-coredns:$COREDNS_VERSION" "$coredns_archive"

busybox_archive="$IMAGE_CACHE/busybox-$BUSYBOX_VERSION.tar"
if [ ! -f "$busybox_archive" ]; then
  rootfs=$(mktemp -d)
  install -D -m 0755 /bin/busybox "$rootfs/bin/busybox"
  for applet in sh mkdir rm chmod ls cat; do ln -s busybox "$rootfs/bin/$applet"; done
  image_from_rootfs "docker.io/library/regop-busybox:$BUSYBOX_VERSION" "$rootfs" "$busybox_archive" --env PATH=/bin
  rm -rf "$rootfs"
fi
import_image "docker.io/library/regop-busybox:$BUSYBOX_VERSION" "$busybox_archive"
