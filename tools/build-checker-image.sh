#!/usr/bin/env bash
# Builds localhost/tandem-checker:dev: the busybox test image plus crates/tandem-checker linked
# statically (it is std-only, so a bare rustc call does it), plus the shared libraries TANDEM
# needs, so an attacker in the container could run the host's tandem binary through
# /proc/self/exe as the CVE-2019-5736 exploit does (crates/tandem/tests/isolation_root.rs).
#   tools/build-checker-image.sh [TANDEM] [--root DIR]
# The binary is cached in target/checker/ and rebuilt when its source is newer; concurrent test
# processes may both build it, and the rename keeps either result whole.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
src=$here/crates/tandem-checker/src
out=${CARGO_TARGET_DIR:-$here/target}/checker/tandem-checker
if [ ! -x "$out" ] || [ -n "$(find "$src" -newer "$out" -name '*.rs' | head -1)" ]; then
  mkdir -p "$(dirname "$out")"
  # rustc keeps its intermediate objects beside the output: a directory of its own each.
  tmp=$(mktemp -d "$out.XXXXXX")
  rustc --edition 2021 -O -C target-feature=+crt-static --crate-name tandem_checker \
    "$src/main.rs" -o "$tmp/tandem-checker"
  mv -f "$tmp/tandem-checker" "$out"
  rm -rf "$tmp"
fi
EXTRA_LIBS_FOR=${1:-$here/target/release/tandem} EXTRA_BIN=$out IMAGE_REF=localhost/tandem-checker:dev exec bash "$here/tools/build-busybox-image.sh" "$@"
