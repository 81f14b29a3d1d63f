#!/usr/bin/env bash
# Pod start-up and teardown, tandem next to podman, in one run on this machine.
#
#   bash bench/start.sh            # prints a markdown table (also written to target/bench/start.md)
#
# What is measured (hyperfine, wall clock, mean ± σ over RUNS runs, default 20):
#   start:    from the command until all three containers of bench/pods/three-containers.yaml run
#             tandem: `tandem run -d` + `tandem wait --for=condition=Ready`; podman: `podman kube play`
#   delete:   stopping and removing that pod (SIGTERM handled at once)
#             tandem: `tandem delete pod bench`; podman: `podman kube down`
#   complete: a pod of three containers running `true`, from the command until the pod has ended
#             tandem: `tandem run` (foreground); podman: `podman kube play` + `podman wait` of its containers
# Both use the same busybox root filesystem (tools/build-busybox-image.sh). podman is installed
# and configured here for this host (runc, cgroupfs, file events; crun 1.8 refuses hybrid cgroups).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-20}
bash tools/setup.sh
need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v podman >/dev/null || need+=(podman runc)
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
mkdir -p /etc/containers target/bench
if ! grep -q 'tandem-bench' /etc/containers/containers.conf 2>/dev/null; then
  cat >> /etc/containers/containers.conf <<'CONF'
# tandem-bench: settings this host needs for podman (see shared/design/ARCHITECTURE.md)
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
fi

cargo build --release --locked -p tandem
T="$PWD/target/release/tandem"
root=$(mktemp -d /tmp/tandem-bench.XXXXXX)
trap 'rm -rf "$root"' EXIT
BUSYBOX_TAR_OUT="$root/rootfs.tar" bash tools/build-busybox-image.sh "$T" --root "$root" >/dev/null
podman import -q "$root/rootfs.tar" localhost/tandem-busybox:1.35 >/dev/null
pod=bench/pods/three-containers.yaml
job=bench/pods/three-jobs.yaml
podman kube down "$pod" >/dev/null 2>&1 || true
"$T" --root "$root" delete pod bench --grace-period 0 >/dev/null 2>&1 || true

hyperfine --runs "$RUNS" --warmup 2 --export-markdown target/bench/start-up.md \
  --command-name "tandem start" \
  --cleanup "$T --root $root delete pod bench --grace-period 0 >/dev/null" \
  "$T --root $root run -d $pod >/dev/null && $T --root $root wait pod/bench --for=condition=Ready --timeout=30s >/dev/null" \
  --command-name "podman start" \
  --cleanup "podman kube down $pod >/dev/null" \
  "podman kube play $pod >/dev/null"

hyperfine --runs "$RUNS" --warmup 2 --export-markdown target/bench/delete.md \
  --command-name "tandem delete" \
  --prepare "$T --root $root run -d $pod >/dev/null && $T --root $root wait pod/bench --for=condition=Ready --timeout=30s >/dev/null" \
  "$T --root $root delete pod bench >/dev/null" \
  --command-name "podman delete" \
  --prepare "podman kube play $pod >/dev/null" \
  "podman kube down $pod >/dev/null"

hyperfine --runs "$RUNS" --warmup 2 --export-markdown target/bench/complete.md \
  --command-name "tandem complete" \
  --cleanup "$T --root $root delete pod bench-job >/dev/null" \
  "$T --root $root run $job >/dev/null 2>&1" \
  --command-name "podman complete" \
  --cleanup "podman kube down $job >/dev/null" \
  "podman kube play $job >/dev/null && podman wait bench-job-a bench-job-b bench-job-c >/dev/null"

{
  echo "### Pod start-up, delete and run-to-completion ($(nproc) cores, $(uname -r), $(date -u +%F))"
  echo
  cat target/bench/start-up.md; echo; cat target/bench/delete.md; echo; cat target/bench/complete.md
} | tee target/bench/start.md
