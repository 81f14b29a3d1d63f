#!/usr/bin/env bash
# Builds localhost/tandem-checker:dev: the busybox test image plus crates/tandem-checker linked
# statically (it is std-only, so a bare rustc call does it and no libc is needed in the image).
#   tools/build-checker-image.sh [TANDEM] [--root DIR]
# The binary is cached in target/checker/ and rebuilt when its source is newer; concurrent test
# processes may both build it, and the rename keeps either result whole.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
src=$here/crates/tandem-checker/src
out=${CARGO_TARGET_DIR:-$here/target}/checker/tandem-checker
if [ ! -x "$out" ] || [ -n "$(find "$src" -newer "$out" -name '*.rs' | head -1)" ]; then
  mkdir -p "$(dirname "$out")"
  tmp=$(mktemp "$out.XXXXXX")
  rustc --edition 2021 -O -C target-feature=+crt-static --crate-name tandem_checker \
    "$src/main.rs" -o "$tmp"
  mv -f "$tmp" "$out"
fi
EXTRA_BIN=$out IMAGE_REF=localhost/tandem-checker:dev exec bash "$here/tools/build-busybox-image.sh" "$@"
