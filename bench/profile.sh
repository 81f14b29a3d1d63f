#!/usr/bin/env bash
# Where one pod's start-up time goes, from the outside (strace) and from the pod's own records.
#
#   sudo bash bench/profile.sh [RUNS]      # default 10; prints a markdown table
#
# For each run of bench/pods/three-containers.yaml (`tandem run -d` + `wait --for=condition=Ready`,
# release build, scratch store), `strace -f -tt` records every exec and process exit of tandem and
# its children. From that trace:
#   total      the command until Ready (wall clock)
#   cni        first CNI plugin exec until the last plugin of the ADD exits (the pod network)
#   helpers    the helper processes started (shims, pause, CNI plugins, iptables)
# and from the pod's events.jsonl, each container's `Started` time after the supervisor began.
# Medians over the runs. The tracing itself slows every exec down, so compare the shares, not
# the absolute numbers, with bench/start.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-10}
command -v strace >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >/dev/null
cargo build --release --locked -p tandem
T="$PWD/target/release/tandem"
root=$(mktemp -d /tmp/tandem-profile.XXXXXX)
cleanup() {
  "$T" --root "$root" delete pod bench --grace-period 0 >/dev/null 2>&1 || true
  rm -rf "$root"
}
trap cleanup EXIT
bash tools/build-busybox-image.sh "$T" --root "$root" >/dev/null
pod=bench/pods/three-containers.yaml
trace=$root/trace
rows=$root/rows
: > "$rows"
for i in $(seq 0 "$RUNS"); do
  "$T" --root "$root" delete pod bench --grace-period 0 >/dev/null 2>&1 || true
  start=$(date +%s%N)
  # strace follows the supervisor `run -d` leaves running: it is detached (SIGTERM; a background
  # job of a script ignores SIGINT) once the pod
  # is Ready.
  strace -I 1 -f -tt -qq -e trace=execve -e signal=none -o "$trace" \
    "$T" --root "$root" run -d "$pod" >/dev/null &
  tracer=$!
  until "$T" --root "$root" wait pod/bench --for=condition=Ready --timeout=30s >/dev/null 2>&1; do
    sleep 0.01
  done
  end=$(date +%s%N)
  kill -TERM "$tracer" 2>/dev/null || true
  wait "$tracer" 2>/dev/null || true
  events=$(find "$root" -path '*bench*' -name events.jsonl | head -1)
  # The first run warms the page cache and is not counted.
  [ "$i" = 0 ] && continue
  python3 - "$trace" "$events" "$start" "$end" >> "$rows" <<'PY'
import json, re, sys
trace, events, start, end = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def t(s):  # HH:MM:SS.micro -> microseconds of the day
    h, m, rest = s.split(":"); sec, us = rest.split(".")
    return ((int(h) * 60 + int(m)) * 60 + int(sec)) * 1_000_000 + int(us)
execs = []
for line in open(trace):
    m = re.match(r"(\d+) +(\d\d:\d\d:\d\d\.\d+) execve\(\"([^\"]+)\", \[([^\]]*)\]", line)
    if m and "= 0" in line:
        execs.append((t(m.group(2)), m.group(3), m.group(4)))
first = execs[0][0] if execs else 0
cni = [e for e in execs if "/cni/" in e[1] or e[1].endswith(("bridge", "host-local", "portmap", "firewall", "loopback"))]
tables = [e for e in execs if "tables" in e[1]]
shims = [e for e in execs if '"__shim"' in e[2]]
pause = [e for e in execs if '"__pause"' in e[2]]
ev = [json.loads(l) for l in open(events)] if events else []
started = sorted(e["time_us"] for e in ev if e.get("reason") == "Started")
t0 = start // 1000
print(json.dumps({
    "total_ms": (end - start) / 1e6,
    "cni_ms": (cni[-1][0] - cni[0][0]) / 1000 if len(cni) > 1 else 0,
    "cni_execs": len(cni), "iptables_execs": len(tables), "shims": len(shims), "pause": len(pause),
    "execs": len(execs),
    "started_ms": [(s - t0) / 1000 for s in started],
}))
PY
done
python3 - "$rows" <<'PY'
import json, statistics as st, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = lambda k: st.median(r[k] for r in rows)
print(f"| measure (median of {len(rows)} traced runs) | value |")
print("| --- | ---: |")
print(f"| command → Ready | {med('total_ms'):.0f} ms |")
print(f"| CNI ADD (first plugin exec → last) | {med('cni_ms'):.0f} ms |")
n = max(len(r["started_ms"]) for r in rows)
for i in range(n):
    vals = [r["started_ms"][i] for r in rows if len(r["started_ms"]) > i]
    print(f"| container {i + 1} Started, after the command | {st.median(vals):.0f} ms |")
print(f"| processes exec'd per pod start | {med('execs'):.0f} (CNI plugins {med('cni_execs'):.0f}, iptables {med('iptables_execs'):.0f}, shims {med('shims'):.0f}, pause {med('pause'):.0f}) |")
PY
