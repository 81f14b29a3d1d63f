#!/usr/bin/env bash
# `tandem serve` under load: WATCHES watches held open and RATE list requests a second for
# SECONDS, with a pod changing underneath (its readiness flips every second); the serve
# process's open descriptors and memory are sampled before, during and after, to show that
# nothing grows with the traffic and everything is given back when it ends.
#
#   sudo bash bench/serve-load.sh                 # WATCHES=100 RATE=50 SECONDS=60
#
# Clients are curl with the kubeconfig's certificate (one process per watch; the requests come
# from one curl per request, RATE a second). Prints a markdown table (target/bench/serve-load.md).
WATCHES=${WATCHES:-100}
RATE=${RATE:-50}
DURATION=${SECONDS_LOAD:-${DURATION:-60}}
bench_stop() {
  [ -n "${load_pids:-}" ] && kill $load_pids 2>/dev/null || true
  [ -n "${serve_pid:-}" ] && kill "$serve_pid" 2>/dev/null || true
  [ -x "${T:-}" ] && "$T" --root "$root" delete pods --all --grace-period 0 >/dev/null 2>&1 || true
}
source "$(dirname "$0")/common.sh"

"$T" --root "$root" serve -d --port 0 > "$root/serve.out"
serve_pid=$(cat "$root/serve/serve.lock")
config="$root/serve/kubeconfig"
field() { awk -v f="$1:" '$1 == f {print $2}' "$config" | base64 -d; }
field certificate-authority-data > "$root/ca.pem"
field client-certificate-data > "$root/client.pem"
field client-key-data > "$root/client.key"
url=$(awk '$1 == "server:" {print $2}' "$config")
get() { curl -s --cacert "$root/ca.pem" --cert "$root/client.pem" --key "$root/client.key" "$@"; }

# A pod whose readiness flips every second: a change for every watcher to hear.
cat > "$root/flip.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: flip
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: a
      image: localhost/tandem-busybox:1.35
      command: ["sh", "-c", "trap 'exit 0' TERM; while true; do touch /tmp/ready; sleep 1; rm -f /tmp/ready; sleep 1; done"]
      readinessProbe:
        exec: {command: [test, -f, /tmp/ready]}
        periodSeconds: 1
EOF
"$T" --root "$root" run -d "$root/flip.yaml" >/dev/null

sample() {
  local fds rss
  fds=$(ls "/proc/$serve_pid/fd" | wc -l)
  rss=$(awk '/^VmRSS:/{printf "%.1f MB", $2/1024}' "/proc/$serve_pid/status")
  echo "| $1 | $fds | $rss |"
}
rows=("$(sample "before")")
load_pids=""
for _ in $(seq "$WATCHES"); do
  # curl itself in the background (not a function's subshell), so its pid is the one to kill.
  curl -s -N --cacert "$root/ca.pem" --cert "$root/client.pem" --key "$root/client.key" \
    "$url/api/v1/pods?watch=1" > /dev/null &
  load_pids="$load_pids $!"
done
requests=0 ok=0
end=$((SECONDS + DURATION))
half=$((SECONDS + DURATION / 2))
sampled=0
export -f get
export root
while [ $SECONDS -lt $end ]; do
  tick=$SECONDS
  # RATE requests, 25 at a time, then the rest of the second.
  codes=$(seq "$RATE" | xargs -P 25 -I{} bash -c 'get -o /dev/null -w "%{http_code}\n" "$0/api/v1/namespaces/default/pods"' "$url")
  requests=$((requests + RATE))
  ok=$((ok + $(grep -c '^200$' <<< "$codes")))
  if [ $sampled = 0 ] && [ $SECONDS -ge $half ]; then rows+=("$(sample "after $((DURATION / 2)) s, $WATCHES watches open")"); sampled=1; fi
  while [ $SECONDS -eq $tick ]; do sleep 0.05; done
done
rows+=("$(sample "after ${DURATION} s, $WATCHES watches open")")
alive=0
for p in $load_pids; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
kill $load_pids 2>/dev/null || true
wait 2>/dev/null || true
load_pids=""
sleep 2
rows+=("$(sample "2 s after the clients left")")
{
  echo "### \`tandem serve\` under $WATCHES watches and $requests list requests over ${DURATION} s"
  echo
  echo "| when | serve's open fds | serve's RSS |"
  echo "| --- | ---: | ---: |"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Requests answered 200: $ok of $requests; watches still open at the end: $alive of $WATCHES."
} | tee target/bench/serve-load.md
