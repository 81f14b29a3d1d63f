#!/usr/bin/env bash
# Pull benchmark: a multi-layer image of about 100 MB from a local registry into an empty store,
# unpacked, by `tandem image pull` and by `podman pull`, side by side in one run (hyperfine when
# installed, else a timed loop). Writes the table to stdout and to $OUT (default
# bench/results/pull.md).
#   sudo bench/pull.sh [RUNS]
# Needs root. Installs (Debian) docker-registry, podman and hyperfine when missing. Network
# traffic goes only to 127.0.0.1. Podman is configured for this host through a private
# containers.conf (runtime runc, cgroupfs, file events logger) and registries.conf (the local
# registry insecure), passed by CONTAINERS_CONF / CONTAINERS_REGISTRIES_CONF: nothing under
# /etc is changed.
set -euo pipefail
runs=${1:-5}
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$repo/bench/results/pull.md}
[ "$(id -u)" = 0 ] || { echo "error: run as root (podman and unpacking with ownership need it)" >&2; exit 1; }

need=()
for p in docker-registry podman runc hyperfine; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi

tandem=${TANDEM:-$repo/target/release/tandem}
if [ ! -x "$tandem" ]; then
  (cd "$repo" && cargo build --release -p tandem)
fi

work=$(mktemp -d /tmp/tandem-pull-bench.XXXXXX)
reg_pid=
cleanup() {
  if [ -n "$reg_pid" ]; then kill "$reg_pid" 2>/dev/null || true; wait "$reg_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# The registry, on a free port of 127.0.0.1.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
EOF
/usr/bin/docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done

cat > "$work/registries.conf" <<EOF
[[registry]]
location = "127.0.0.1:$port"
insecure = true
EOF
cat > "$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
export CONTAINERS_CONF=$work/containers.conf CONTAINERS_REGISTRIES_CONF=$work/registries.conf
export TANDEM_REGISTRIES_CONF=$work/registries.conf

# The image: 4 gzip layers of base64 text from /dev/urandom (compresses to ~76%, so gzip has
# real work), ~25 MB each compressed, as an OCI layout, loaded into a scratch store and pushed.
layout=$work/layout
mkdir -p "$layout/blobs/sha256"
layers_json=
diff_ids=
for i in 1 2 3 4; do
  d=$work/l$i
  mkdir -p "$d/data$i"
  head -c 24000000 /dev/urandom | base64 > "$d/data$i/blob"
  printf 'layer %s\n' "$i" > "$d/data$i/marker"
  tar -C "$d" -cf "$work/l$i.tar" "data$i"
  diff=$(sha256sum "$work/l$i.tar" | cut -d' ' -f1)
  gzip -1 -c "$work/l$i.tar" > "$work/l$i.tar.gz"
  dg=$(sha256sum "$work/l$i.tar.gz" | cut -d' ' -f1)
  sz=$(stat -c %s "$work/l$i.tar.gz")
  mv "$work/l$i.tar.gz" "$layout/blobs/sha256/$dg"
  layers_json+="${layers_json:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$dg\",\"size\":$sz}"
  diff_ids+="${diff_ids:+,}\"sha256:$diff\""
  rm -rf "$d" "$work/l$i.tar"
done
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' "$diff_ids" > "$work/config.json"
cd_=$(sha256sum "$work/config.json" | cut -d' ' -f1); cs=$(stat -c %s "$work/config.json")
mv "$work/config.json" "$layout/blobs/sha256/$cd_"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' "$cd_" "$cs" "$layers_json" > "$work/manifest.json"
md=$(sha256sum "$work/manifest.json" | cut -d' ' -f1); ms=$(stat -c %s "$work/manifest.json")
mv "$work/manifest.json" "$layout/blobs/sha256/$md"
echo '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"localhost/bench/big:1"}}]}' "$md" "$ms" > "$layout/index.json"
image=127.0.0.1:$port/bench/big:1
"$tandem" --root "$work/seed" image load -i "$layout" >/dev/null
"$tandem" --root "$work/seed" image push -q localhost/bench/big:1 "$image" >/dev/null
total=$(du -cb "$layout"/blobs/sha256/* | tail -1 | cut -f1)
echo "image $image: 4 layers, $((total / 1000000)) MB compressed"

t_cmd="rm -rf $work/t && $tandem --root $work/t image pull -q $image"
p_cmd="rm -rf $work/p && podman --root $work/p/root --runroot $work/p/run --storage-driver overlay pull -q $image"
# One untimed run each: the image must unpack identically.
eval "$t_cmd" >/dev/null
eval "$p_cmd" >/dev/null
[ "$(cat "$work"/t/images/snapshots/*/fs/data4/marker 2>/dev/null)" = "layer 4" ] || { echo "error: tandem's unpacked image is wrong" >&2; exit 1; }

mkdir -p "$(dirname "$out")"
{
  echo "## pull of a 4-layer ~$((total / 1000000)) MB gzip image from a local registry, into an empty store, unpacked"
  echo
  echo "tandem $("$tandem" --version | cut -d' ' -f2) vs $(podman --version); $(nproc) cores; $(uname -r)"
  echo
} > "$out"
if command -v hyperfine >/dev/null; then
  hyperfine --runs "$runs" --warmup 1 --export-markdown "$work/table.md" \
    -n "tandem image pull" "$t_cmd" \
    -n "podman pull" "$p_cmd"
  cat "$work/table.md" >> "$out"
else
  for name in tandem podman; do
    cmd=$t_cmd; [ $name = podman ] && cmd=$p_cmd
    start=$(date +%s.%N)
    for _ in $(seq "$runs"); do eval "$cmd" >/dev/null; done
    end=$(date +%s.%N)
    echo "| $name | $(echo "($end - $start) / $runs" | bc -l | cut -c1-6) s |" >> "$out"
  done
fi
echo
cat "$out"
