#!/usr/bin/env bash
# Builds the small image the examples and tests run on, from Debian's busybox-static, with no
# registry: a root filesystem tarball imported as localhost/tandem-busybox:1.35.
#   tools/build-busybox-image.sh [TANDEM] [--root DIR]
# With EXTRA_BIN=path, EXTRA_LIBS_FOR=binary and IMAGE_REF=ref (tools/build-checker-image.sh), the
# file is added as /bin/<its name>, the binary's shared libraries are added, and the image is
# imported under that reference instead.
set -euo pipefail
tandem=${1:-target/release/tandem}
shift || true
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "error: $busybox is missing; hint: apt-get install busybox-static" >&2; exit 1; }
file "$busybox" 2>/dev/null | grep -q 'statically linked' || ldd "$busybox" 2>&1 | grep -q 'not a dynamic' || {
  echo "error: $busybox is not static; hint: apt-get install busybox-static" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"/{bin,etc,tmp,root,proc,sys,dev,var/log,home/app}
cp "$busybox" "$root/bin/busybox"
if [ -n "${EXTRA_BIN:-}" ]; then cp "$EXTRA_BIN" "$root/bin/"; fi
# EXTRA_LIBS_FOR=binary: the shared libraries (and loader) that binary needs, at their host paths.
if [ -n "${EXTRA_LIBS_FOR:-}" ]; then
  for lib in $(ldd "$EXTRA_LIBS_FOR" | grep -o '/[^ ]*'); do cp -L --parents "$lib" "$root/"; done
fi
# Applet links, made by name rather than by running the binary so the host arch does not matter.
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
chmod 1777 "$root/tmp"
cat > "$root/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > "$root/etc/group" <<'G'
root:x:0:
app:x:1000:
staff:x:50:app
nogroup:x:65534:
G
chown 1000:1000 "$root/home/app"
tar --numeric-owner -C "$root" -cf "$work/rootfs.tar" .
# Benchmarks import the same rootfs into podman: BUSYBOX_TAR_OUT=path keeps a copy.
if [ -n "${BUSYBOX_TAR_OUT:-}" ]; then cp "$work/rootfs.tar" "$BUSYBOX_TAR_OUT"; fi
"$tandem" "$@" image import "$work/rootfs.tar" "${IMAGE_REF:-localhost/tandem-busybox:1.35}" --cmd '["/bin/sh"]'
