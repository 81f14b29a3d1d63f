#!/usr/bin/env bash
# `tandem serve` measured with the real kubectl: the time from `kubectl apply` of the 3-container
# pod to all its containers running, next to `tandem run -d` of the same pod in the same run;
# `kubectl get pods` with many pods; and the memory of serve's own process with 0, 10 and 100
# one-container pods in the store.
#
#   sudo bash bench/serve.sh              # prints a markdown table (also target/bench/serve.md)
#   sudo RUNS=5 PODS="10 50" bash bench/serve.sh
#
# Release build, kubectl as installed (/usr/bin/kubectl), its discovery cache in the scratch
# store. Memory: RSS and PSS of the serve process from /proc/PID/smaps_rollup, 3 s after the
# last pod is Ready (the cache holds every object by then).
RUNS=${RUNS:-10}
PODS=${PODS:-"10 100"}
bench_stop() {
  [ -n "${serve_pid:-}" ] && kill "$serve_pid" 2>/dev/null || true
  [ -x "${T:-}" ] && "$T" --root "$root" delete pods --all --grace-period 0 >/dev/null 2>&1 || true
}
source "$(dirname "$0")/common.sh"

"$T" --root "$root" serve -d --port 0 > "$root/serve.out"
serve_pid=$(cat "$root/serve/serve.lock")
export KUBECONFIG="$root/serve/kubeconfig" HOME="$root/home"
mkdir -p "$HOME"
pod=bench/pods/three-containers.yaml
kubectl get ns >/dev/null # discovery, cached from here on

hyperfine --runs "$RUNS" --warmup 2 --export-markdown "$root/start.md" \
  --prepare "kubectl delete pod bench --grace-period=0 --ignore-not-found >/dev/null; $T --root $root delete pod bench --grace-period 0 >/dev/null 2>&1 || true" \
  -n "kubectl apply + wait (tandem serve)" "kubectl apply -f $pod >/dev/null && kubectl wait --for=condition=Ready pod/bench --timeout=60s >/dev/null" \
  -n "tandem run -d + wait" "$T --root $root run -d $pod >/dev/null && $T --root $root wait pod/bench --for=condition=Ready --timeout=60s >/dev/null" \
  >/dev/null
"$T" --root "$root" delete pod bench --grace-period 0 >/dev/null 2>&1 || true

memory() {
  awk '/^Rss:/{r=$2} /^Pss:/{p=$2} END{printf "%.1f MB / %.1f MB", r/1024, p/1024}' "/proc/$serve_pid/smaps_rollup"
}
one_pod() {
  cat <<EOF
---
apiVersion: v1
kind: Pod
metadata:
  name: p$1
  labels: {bench: many}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: a
      image: localhost/tandem-busybox:1.35
      command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
EOF
}
sleep 3
rows=("| 0 | $(memory) | – |")
made=0
for n in $PODS; do
  : > "$root/many.yaml"
  for i in $(seq $((made + 1)) "$n"); do one_pod "$i" >> "$root/many.yaml"; done
  [ -s "$root/many.yaml" ] && kubectl apply -f "$root/many.yaml" >/dev/null
  made=$n
  kubectl wait --for=condition=Ready pods -l bench=many --timeout=600s >/dev/null
  sleep 3
  list=$(hyperfine --runs 5 --warmup 1 --export-json "$root/list.json" "kubectl get pods" >/dev/null && \
    python3 -c "import json;r=json.load(open('$root/list.json'))['results'][0];print(f\"{r['median']*1000:.0f} ms\")")
  rows+=("| $n | $(memory) | $list |")
done
kubectl delete pods -l bench=many --grace-period=0 >/dev/null

{
  echo "### kubectl apply → all containers running, 3-container pod (release, $RUNS runs)"
  echo
  cat "$root/start.md"
  echo
  echo "### serve's own memory and \`kubectl get pods\` by pods in the store"
  echo
  echo "| pods | serve RSS / PSS | \`kubectl get pods\` (median of 5) |"
  echo "| ---: | --- | ---: |"
  printf '%s\n' "${rows[@]}"
} | tee target/bench/serve.md
