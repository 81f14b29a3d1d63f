#!/usr/bin/env bash
# The README's second command and what CI runs: every test tier, plus format, lint and the
# dependency-direction check. Root tests skip with a printed reason when not run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
NEED_NEXTEST=1 bash tools/setup.sh
echo "== format"
cargo fmt --all -- --check
echo "== dependency direction: the lifecycle engine, the controllers, the API endpoint and the tokens never reach the kernel or the image store"
for crate in tandem-kubelet tandem-controllers tandem-apiserver tandem-tokens; do
  bad=$(cargo tree --locked -p "$crate" -e normal --prefix none | grep -E '^(nix|libcontainer|libcgroups|tandem-runtime|tandem-image|tandem-supervisor) ' || true)
  if [ -n "$bad" ]; then echo "error: $crate depends on: $bad" >&2; exit 1; fi
done
echo "== reading order: no crate has modules that import each other"
python3 tools/module-order.py
echo "== clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings
echo "== tests"
cargo nextest run --locked --workspace --no-fail-fast
