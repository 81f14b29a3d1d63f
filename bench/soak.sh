#!/usr/bin/env bash
# Soak: many create/delete cycles of a 3-container pod while a crash-looping pod runs beside
# them, sampling what could leak. Bounded by a cycle count and a time limit, whichever comes
# first; it stops by itself and cleans up after itself.
#
#   bash bench/soak.sh                      # CYCLES=1000 MINUTES=10 (the figures in docs/reliability.md)
#   CYCLES=100 MINUTES=3 bash bench/soak.sh # a shorter run
#
# Every SAMPLE_EVERY cycles (default 50) one row: cycle, elapsed s, open fds of all tandem
# processes, tandem processes, the crash-looper's supervisor RSS (KiB) and restart count, mounts
# under the store, pod cgroups, network namespaces, veths, packet filter rules of tandem pods,
# CNI address allocations, and the store's size (KiB). Written as a markdown table to
# target/bench/soak.md; the run fails if a count other than RSS, restarts or store size ends
# higher than it began.
set -euo pipefail
cd "$(dirname "$0")/.."
CYCLES=${CYCLES:-1000}
MINUTES=${MINUTES:-10}
SAMPLE_EVERY=${SAMPLE_EVERY:-50}
bash tools/setup.sh
cargo build --release --locked -p tandem
T=$PWD/target/release/tandem
root=$(mktemp -d /tmp/tandem-soak.XXXXXX)
cleanup() {
  for p in soak crashloop; do "$T" --root "$root" delete pod "$p" --grace-period 0 >/dev/null 2>&1 || true; done
  rm -rf "$root"
}
trap cleanup EXIT
bash tools/build-busybox-image.sh "$T" --root "$root" >/dev/null
mkdir -p target/bench
out=target/bench/soak.md

cat > "$root/crashloop.yaml" <<'POD'
apiVersion: v1
kind: Pod
metadata: {name: crashloop}
spec:
  containers:
  - name: crash
    image: localhost/tandem-busybox:1.35
    imagePullPolicy: Never
    command: [sh, -c, "echo crashing; exit 1"]
POD
sed 's/name: bench$/name: soak/' bench/pods/three-containers.yaml > "$root/soak.yaml"
"$T" --root "$root" run -d "$root/crashloop.yaml" >/dev/null

sample() {
  local pids fds procs rss restarts mounts cgroups netns veths rules allocs store
  pids=$(pgrep -f "$T" || true)
  procs=$(echo "$pids" | grep -c . || true)
  fds=0
  for p in $pids; do fds=$((fds + $(ls "/proc/$p/fd" 2>/dev/null | wc -l))); done
  local sup
  sup=$(cat "$root/pods/default_crashloop/supervisor.pid" 2>/dev/null || echo 0)
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$sup/status" 2>/dev/null || echo 0)
  restarts=$("$T" --root "$root" get pod crashloop -o json 2>/dev/null \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["containerStatuses"][0]["restartCount"])' 2>/dev/null || echo "?")
  mounts=$(grep -c "$root" /proc/self/mountinfo || true)
  # Hierarchies that do not exist and processes that exit while being looked at are not errors.
  cgroups=$( (find /sys/fs/cgroup/*/tandem /sys/fs/cgroup/tandem -mindepth 1 -maxdepth 1 -type d 2>/dev/null || true) | wc -l)
  netns=$( (find /proc/[0-9]*/ns/net -maxdepth 0 -printf '%l\n' 2>/dev/null || true) | sort -u | wc -l)
  veths=$(ip -o link show type veth 2>/dev/null | wc -l)
  # The plugins' rules (iptables) and the built-in network's per-pod rules (nftables, commented
  # with the pod's uid).
  rules=$( ( (iptables-save 2>/dev/null; ip6tables-save 2>/dev/null) | grep 'name: \\"tandem\\"';
             nft list table inet tandem 2>/dev/null | grep 'comment "') | grep -c . || true)
  allocs=$(ls /var/lib/cni/networks/tandem 2>/dev/null | grep -vc -e lock -e last_reserved || true)
  store=$(du -sk "$root/pods" | cut -f1)
  echo "| $1 | $2 | $fds | $procs | $rss | $restarts | $mounts | $cgroups | $netns | $veths | $rules | $allocs | $store |"
}

{
  echo "| cycle | s | fds | processes | crashloop RSS KiB | crashloop restarts | mounts | pod cgroups | netns | veths | rules | CNI allocations | store KiB |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
} > "$out"
start=$(date +%s)
first=$(sample 0 0)
echo "$first" >> "$out"
deadline=$((start + MINUTES * 60))
cycle=0
while [ "$cycle" -lt "$CYCLES" ] && [ "$(date +%s)" -lt "$deadline" ]; do
  cycle=$((cycle + 1))
  "$T" --root "$root" run -d "$root/soak.yaml" >/dev/null
  "$T" --root "$root" wait pod/soak --for=condition=Ready --timeout=60s >/dev/null
  "$T" --root "$root" delete pod soak --grace-period 1 >/dev/null
  if [ $((cycle % SAMPLE_EVERY)) -eq 0 ]; then
    sample "$cycle" "$(( $(date +%s) - start ))" >> "$out"
  fi
done
last=$(sample "$cycle" "$(( $(date +%s) - start ))")
echo "$last" >> "$out"
cat "$out"
# fds, processes, mounts, cgroups, netns, veths, rules and allocations must not grow.
read -r -a a <<< "$(echo "$first" | tr -d '|')"
read -r -a b <<< "$(echo "$last" | tr -d '|')"
grew=()
for i in 2 3 6 7 8 9 10 11; do
  [ "${b[$i]}" -le "${a[$i]}" ] || grew+=("column $((i + 1)): ${a[$i]} -> ${b[$i]}")
done
if [ ${#grew[@]} -gt 0 ]; then
  echo "error: grew over $cycle cycles: ${grew[*]}" >&2
  exit 1
fi
echo "$cycle cycles in $(( $(date +%s) - start )) s: nothing grew"
