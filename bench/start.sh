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
# Both use the same busybox root filesystem (tools/build-busybox-image.sh); bench/common.sh sets
# podman up for this host.
RUNS=${RUNS:-20}
# On any exit, stop what the benchmark started before its store goes.
bench_stop() {
  for p in bench bench-job; do [ -x "${T:-}" ] && "$T" --root "$root" delete pod "$p" --grace-period 0 >/dev/null 2>&1 || true; done
  podman kube down bench/pods/three-containers.yaml >/dev/null 2>&1 || true
  podman kube down bench/pods/three-jobs.yaml >/dev/null 2>&1 || true
}
source "$(dirname "$0")/common.sh"
pod=bench/pods/three-containers.yaml
job=bench/pods/three-jobs.yaml
podman kube down "$pod" >/dev/null 2>&1 || true
"$T" --root "$root" delete pod bench --grace-period 0 >/dev/null 2>&1 || true

# hyperfine 1.15 takes one --prepare per command (run before every timing) and no per-command
# cleanup, so each prepare first removes what the previous run left.
hyperfine --runs "$RUNS" --warmup 2 --export-markdown target/bench/start-up.md \
  --prepare "$T --root $root delete pod bench --grace-period 0 >/dev/null 2>&1 || true" \
  --prepare "podman kube down $pod >/dev/null 2>&1 || true" \
  --command-name "tandem start" \
  "$T --root $root run -d $pod >/dev/null && $T --root $root wait pod/bench --for=condition=Ready --timeout=30s >/dev/null" \
  --command-name "podman start" \
  "podman kube play $pod >/dev/null"
"$T" --root "$root" delete pod bench --grace-period 0 >/dev/null 2>&1 || true
podman kube down "$pod" >/dev/null 2>&1 || true

hyperfine --runs "$RUNS" --warmup 2 --export-markdown target/bench/delete.md \
  --prepare "$T --root $root run -d $pod >/dev/null && $T --root $root wait pod/bench --for=condition=Ready --timeout=30s >/dev/null" \
  --prepare "podman kube play $pod >/dev/null" \
  --command-name "tandem delete" \
  "$T --root $root delete pod bench >/dev/null" \
  --command-name "podman delete" \
  "podman kube down $pod >/dev/null"

hyperfine --runs "$RUNS" --warmup 2 --export-markdown target/bench/complete.md \
  --prepare "$T --root $root delete pod bench-job >/dev/null 2>&1 || true" \
  --prepare "podman kube down $job >/dev/null 2>&1 || true" \
  --command-name "tandem complete" \
  "$T --root $root run $job >/dev/null 2>&1" \
  --command-name "podman complete" \
  "podman kube play $job >/dev/null && podman wait bench-job-a bench-job-b bench-job-c >/dev/null"
"$T" --root "$root" delete pod bench-job >/dev/null 2>&1 || true
podman kube down "$job" >/dev/null 2>&1 || true

{
  echo "### Pod start-up, delete and run-to-completion ($(nproc) cores, $(uname -r), $(date -u +%F))"
  echo
  cat target/bench/start-up.md; echo; cat target/bench/delete.md; echo; cat target/bench/complete.md
} | tee target/bench/start.md
