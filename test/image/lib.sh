# Helpers to build images without Docker: a root filesystem directory becomes an image with buildah (from
# scratch, a private vfs store), then an archive that containerd imports (`ctr images import`). The archive is in
# docker-archive form, whose repo tag containerd 1.6 reads as the image name.
IMAGE_CACHE="${REGOP_CACHE:-$HOME/.cache/regop}/images"
BUILDAH_STORE=("--root" "$IMAGE_CACHE/buildah/root" "--runroot" "$IMAGE_CACHE/buildah/run" "--storage-driver" "vfs")

# image_from_rootfs NAME ROOTFS ARCHIVE [buildah config args...]: commits ROOTFS as NAME (fully qualified, e.g.
# docker.io/library/regop:dev, which is what Kubernetes makes of `regop:dev`) and writes ARCHIVE
image_from_rootfs() {
  local name=$1 rootfs=$2 archive=$3
  shift 3
  local container
  container=$(buildah "${BUILDAH_STORE[@]}" from scratch)
  buildah "${BUILDAH_STORE[@]}" copy "$container" "$rootfs" / >/dev/null
  if (($#)); then buildah "${BUILDAH_STORE[@]}" config "$@" "$container"; fi
  buildah "${BUILDAH_STORE[@]}" commit -q --rm "$container" "$name" >/dev/null
  rm -f "$archive"
  buildah "${BUILDAH_STORE[@]}" push -q "$name" "docker-archive:$archive:$name" >/dev/null
}

# copy_with_libs BINARY ROOTFS DEST: the binary at DEST inside ROOTFS, and the shared libraries it links at
# their own paths
copy_with_libs() {
  local binary=$1 rootfs=$2 dest=$3
  install -D -m 0755 "$binary" "$rootfs$dest"
  ldd "$binary" 2>/dev/null | grep -oE '/[^ ]+' | while read -r lib; do
    install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
  done
}
