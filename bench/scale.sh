#!/usr/bin/env bash
# Many pods at once: PODS (default 100) copies of bench/pods/three-containers.yaml, started one
# after another and then, separately, BATCH (default 20) at a time; with all of them running, the
# tool's own memory per pod and `get pods` latency; then all deleted in one command.
#
#   sudo bash bench/scale.sh            # prints a markdown table (also target/bench/scale.md)
#
# Fails if a pod does not become Ready or anything of the pods is left afterwards (processes of
# the tandem binary, pod cgroups, veths, address allocations).
set -euo pipefail
cd "$(dirname "$0")/.."
PODS=${PODS:-100}
BATCH=${BATCH:-20}
bash tools/setup.sh
cargo build --release --locked -p tandem
T="$PWD/target/release/tandem"
root=$(mktemp -d /tmp/tandem-scale.XXXXXX)
cleanup() {
  "$T" --root "$root" delete pods --all --grace-period 0 >/dev/null 2>&1 || true
  rm -rf "$root"
}
trap cleanup EXIT
bash tools/build-busybox-image.sh "$T" --root "$root" >/dev/null
mkdir -p "$root/pods-yaml" target/bench
mapfile -t ids < <(seq -f "%03g" 1 "$PODS")
for i in "${ids[@]}"; do
  sed "s/^  name: bench$/  name: scale-$i/" bench/pods/three-containers.yaml > "$root/pods-yaml/$i.yaml"
done
ms() { echo $(( $(date +%s%N) / 1000000 )); }
mean() { awk '{s += $1} END {printf "%.0f", s / NR}'; }
own_memory() {
  # Sum of Rss and Pss (kB) of every process running the tandem binary or a helper program of it:
  # "rss pss count".
  local rss=0 pss=0 n=0 exe pid r p target
  for exe in /proc/[0-9]*/exe; do
    target=$(readlink "$exe" 2>/dev/null) || continue
    case "$target" in "$T" | "$T"-*) ;; *) continue ;; esac
    pid=${exe#/proc/}; pid=${pid%/exe}
    read -r r p < <(awk '/^Rss:/{r=$2} /^Pss:/{p=$2} END{print r+0, p+0}' "/proc/$pid/smaps_rollup" 2>/dev/null || echo "0 0")
    rss=$((rss + r)); pss=$((pss + p)); n=$((n + 1))
  done
  echo "$rss $pss $n"
}
wait_all_ready() {
  local i
  for i in "${ids[@]}"; do
    "$T" --root "$root" wait "pod/scale-$i" --for=condition=Ready --timeout=120s >/dev/null
  done
}

# One after another.
: > "$root/starts"
for i in "${ids[@]}"; do
  t0=$(ms)
  "$T" --root "$root" run -d "$root/pods-yaml/$i.yaml" >/dev/null
  echo $(( $(ms) - t0 )) >> "$root/starts"
done
wait_all_ready
sleep 3
read -r rss pss procs < <(own_memory)
: > "$root/gets"
for _ in 1 2 3 4 5; do
  t0=$(ms); "$T" --root "$root" get pods >/dev/null; echo $(( $(ms) - t0 )) >> "$root/gets"
done
running=$("$T" --root "$root" get pods | grep -c ' Running ' || true)
t0=$(ms)
"$T" --root "$root" delete pods --all >/dev/null
delete_ms=$(( $(ms) - t0 ))

# BATCH at a time, each batch's `run -d`s in parallel.
t0=$(ms)
for ((start = 0; start < PODS; start += BATCH)); do
  for i in "${ids[@]:start:BATCH}"; do
    "$T" --root "$root" run -d "$root/pods-yaml/$i.yaml" >/dev/null &
  done
  wait
done
wait_all_ready
batched_ms=$(( $(ms) - t0 ))
t0=$(ms)
"$T" --root "$root" delete pods --all --grace-period 0 >/dev/null
delete_batched_ms=$(( $(ms) - t0 ))

left=$(own_memory | awk '{print $3}')
cgroups=$( (find /sys/fs/cgroup/*/tandem -mindepth 1 -maxdepth 1 -type d 2>/dev/null || true) | wc -l)
veths=$(ip -o link show type veth 2>/dev/null | wc -l)
allocs=$(ls /var/lib/cni/networks/tandem 2>/dev/null | grep -vc -e lock -e last_reserved || true)
{
  echo "### $PODS three-container pods ($(nproc) cores, $(uname -r), $(date -u +%F))"
  echo
  echo "| measure | value |"
  echo "| --- | ---: |"
  echo "| \`run -d\`, mean of the first ten | $(head -10 "$root/starts" | mean) ms |"
  echo "| \`run -d\`, mean of the last ten | $(tail -10 "$root/starts" | mean) ms |"
  echo "| pods Running, all started | $running of $PODS |"
  echo "| own processes while all run | $procs |"
  echo "| own memory per pod, RSS / PSS | $((rss / PODS)) kB / $((pss / PODS)) kB |"
  echo "| \`get pods\` with all running, mean of 5 | $(mean < "$root/gets") ms |"
  echo "| \`delete pods --all\` (graceful: SIGTERM, each exits at once) | $delete_ms ms |"
  echo "| start $BATCH at a time until all are Ready | $batched_ms ms |"
  echo "| \`delete pods --all --grace-period 0\` | $delete_batched_ms ms |"
  echo "| left afterwards: tandem processes, pod cgroups, veths, addresses | $left, $cgroups, $veths, $allocs |"
} | tee target/bench/scale.md
[ "$running" = "$PODS" ] && [ "$left$cgroups$veths$allocs" = "0000" ]
