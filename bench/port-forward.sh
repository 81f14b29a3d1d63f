#!/usr/bin/env bash
# Port-forward measured: REQUESTS HTTP requests, one connection each, to a server listening on a
# pod's 127.0.0.1 — through `kubectl port-forward` against `tandem serve` (SPDY inside a
# WebSocket, kubectl 1.33; and plain SPDY, kubectl 1.27) and through `tandem port-forward`, in
# the same run; then BYTES through one connection of each; and serve's memory and descriptors
# before, after PARALLEL connections at once, and once they are gone.
#
#   sudo bash bench/port-forward.sh       # REQUESTS=200 PARALLEL=20 BYTES=100000000
#
# Release build. Prints a markdown table (also target/bench/port-forward.md).
REQUESTS=${REQUESTS:-200}
PARALLEL=${PARALLEL:-20}
BYTES=${BYTES:-100000000}
bench_stop() {
  [ -n "${forward_pids:-}" ] && kill $forward_pids 2>/dev/null || true
  [ -n "${serve_pid:-}" ] && kill "$serve_pid" 2>/dev/null || true
  [ -x "${T:-}" ] && "$T" --root "$root" delete pods --all --grace-period 0 >/dev/null 2>&1 || true
}
source "$(dirname "$0")/common.sh"

"$T" --root "$root" serve -d --port 0 > "$root/serve.out"
serve_pid=$(cat "$root/serve/serve.lock")
export KUBECONFIG="$root/serve/kubeconfig" HOME="$root/home"
mkdir -p "$HOME"
# A web server on the pod's loopback only, with a small page and a large file.
cat > "$root/www.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: www
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: web
      image: localhost/tandem-busybox:1.35
      command: ["sh", "-c", "mkdir -p /www && echo hello > /www/index.html && head -c $BYTES /dev/zero > /www/big && exec httpd -f -p 127.0.0.1:8080 -h /www"]
      readinessProbe:
        exec: {command: ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]}
        periodSeconds: 1
EOF
kubectl apply -f "$root/www.yaml" >/dev/null
kubectl wait --for=condition=Ready pod/www --timeout=60s >/dev/null

forward_pids=""
# Starts a forwarder on a free port; prints the port.
start() {
  local port=$1; shift
  "$@" > "$root/forward-$port.out" 2>&1 &
  forward_pids="$forward_pids $!"
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0
    sleep 0.1
  done
  echo "the forwarder on $port did not start: $(cat "$root/forward-$port.out")" >&2
  exit 1
}
start 18081 kubectl port-forward pod/www 18081:8080
k127=/usr/lib/google-cloud-sdk/bin/kubectl.1.27
[ -x "$k127" ] && start 18082 "$k127" port-forward pod/www 18082:8080
start 18083 "$T" --root "$root" port-forward www 18083:8080

memory() {
  awk '/^Rss:/{r=$2} END{printf "%.1f MB", r/1024}' "/proc/$serve_pid/smaps_rollup"
}
fds() { ls "/proc/$serve_pid/fd" | wc -l; }
before="$(memory), $(fds) fds"

# Per request: a new connection each time, the page read whole.
per_request() {
  local port=$1 start end
  start=$(date +%s%N)
  for _ in $(seq "$REQUESTS"); do curl -s -o /dev/null "http://127.0.0.1:$port/"; done
  end=$(date +%s%N)
  echo "$(( (end - start) / REQUESTS / 1000 ))"
}
throughput() {
  local port=$1 start end
  start=$(date +%s%N)
  curl -s -o /dev/null "http://127.0.0.1:$port/big"
  end=$(date +%s%N)
  echo "$(( BYTES * 1000 / ((end - start) / 1000) ))"
}
rows=()
for port in 18081 18082 18083; do
  case $port in
    18081) what="kubectl 1.33 port-forward (SPDY in a WebSocket)" ;;
    18082) [ -x "$k127" ] || continue; what="kubectl 1.27 port-forward (SPDY)" ;;
    18083) what="tandem port-forward" ;;
  esac
  rows+=("| $what | $(per_request $port) µs | $(( $(throughput $port) / 1000 )) MB/s |")
done
# PARALLEL connections at once through kubectl.
downloads=()
for _ in $(seq "$PARALLEL"); do
  curl -s -o /dev/null "http://127.0.0.1:18081/big" &
  downloads+=($!)
done
sleep 0.5
during="$(memory), $(fds) fds"
wait "${downloads[@]}"
kill $forward_pids 2>/dev/null || true
forward_pids=""
sleep 2
after="$(memory), $(fds) fds"

{
  echo "| path | per request (new connection, $REQUESTS requests) | one connection, $BYTES bytes |"
  echo "| --- | ---: | ---: |"
  printf '%s\n' "${rows[@]}"
  echo
  echo "| serve | RSS, descriptors |"
  echo "| --- | --- |"
  echo "| before | $before |"
  echo "| $PARALLEL downloads at once through kubectl | $during |"
  echo "| 2 s after the forwarders ended | $after |"
} | tee target/bench/port-forward.md
