#!/usr/bin/env bash
# The README's first command: install what is missing, build tandem, build the example image,
# and run the sidecar-logging example in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
cargo build --release --locked -p tandem
bash tools/build-busybox-image.sh target/release/tandem
# A previous quick start may have left the completed pod; its name is ours to reuse.
target/release/tandem delete pod sidecar-logging >/dev/null 2>&1 || true
exec target/release/tandem run examples/sidecar-logging.yaml
