#!/usr/bin/env bash
# The memory of each tool's own processes while bench/pods/three-containers.yaml runs, tandem next
# to podman in one run on this machine.
#
#   sudo bash bench/memory.sh         # prints a markdown table (also written to target/bench/memory.md)
#
# Own processes: tandem's are every process running the tandem binary or one of its helper programs (the
# pod's supervisor, the store's proxy, the pause process, and any helper alive at that moment);
# podman's are its conmon monitors and the pod's infra (pause) process, since podman has no
# daemon either. The containers themselves are not counted. RSS and PSS (proportional set size: shared pages divided among the processes that
# map them) from /proc/PID/smaps_rollup, summed, median of ROUNDS rounds (default 5), each round
# a fresh pod measured 2 s after it runs.
ROUNDS=${ROUNDS:-5}
pod=bench/pods/three-containers.yaml
bench_stop() {
  [ -x "${T:-}" ] && "$T" --root "$root" delete pod bench --grace-period 0 >/dev/null 2>&1 || true
  podman kube down "$pod" >/dev/null 2>&1 || true
}
source "$(dirname "$0")/common.sh"

# The sum of Rss and Pss (kB) over the pids given: "rss pss count".
sum_memory() {
  local rss=0 pss=0 n=0 pid
  for pid in "$@"; do
    [ -r "/proc/$pid/smaps_rollup" ] || continue
    read -r r p < <(awk '/^Rss:/{r=$2} /^Pss:/{p=$2} END{print r+0, p+0}' "/proc/$pid/smaps_rollup")
    rss=$((rss + r)); pss=$((pss + p)); n=$((n + 1))
  done
  echo "$rss $pss $n"
}
tandem_pids() {
  local exe target
  for exe in /proc/[0-9]*/exe; do
    target=$(readlink "$exe" 2>/dev/null) || continue
    case "$target" in
      "$T" | "$T"-*) p=${exe#/proc/}; echo "${p%/exe}" ;;
    esac
  done
}
podman_pids() {
  pgrep -x conmon || true
  local infra
  infra=$(podman pod inspect bench --format '{{.InfraContainerID}}')
  podman inspect --format '{{.State.Pid}}' "$infra"
}
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

: > "$root/tandem.rows"; : > "$root/podman.rows"
for _ in $(seq "$ROUNDS"); do
  bench_stop
  "$T" --root "$root" run -d "$pod" >/dev/null
  "$T" --root "$root" wait pod/bench --for=condition=Ready --timeout=30s >/dev/null
  sleep 2
  sum_memory $(tandem_pids) >> "$root/tandem.rows"
  "$T" --root "$root" delete pod bench --grace-period 0 >/dev/null
  podman kube play "$pod" >/dev/null
  sleep 2
  sum_memory $(podman_pids) >> "$root/podman.rows"
  podman kube down "$pod" >/dev/null
done
col() { awk -v c="$1" '{print $c}' "$2" | median; }
mb() { awk -v k="$1" 'BEGIN{printf "%.1f MB", k/1024}'; }
{
  echo "### Own processes while one three-container pod runs ($(nproc) cores, $(uname -r), $(date -u +%F), median of $ROUNDS)"
  echo
  echo "| tool | processes | RSS | PSS |"
  echo "| --- | ---: | ---: | ---: |"
  echo "| tandem | $(col 3 "$root/tandem.rows") | $(mb "$(col 1 "$root/tandem.rows")") | $(mb "$(col 2 "$root/tandem.rows")") |"
  echo "| podman | $(col 3 "$root/podman.rows") | $(mb "$(col 1 "$root/podman.rows")") | $(mb "$(col 2 "$root/podman.rows")") |"
} | tee target/bench/memory.md
