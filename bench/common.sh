# Sourced by the benchmarks that put tandem next to podman (start.sh, memory.sh): installs what is
# missing (hyperfine, podman, runc), builds tandem in release mode, makes a scratch store, and
# imports the same busybox root filesystem into tandem and into podman. podman gets a private
# containers.conf with the settings this host needs (runc, cgroupfs, file events; crun 1.8
# refuses hybrid cgroups); /etc is not touched.
#
# The caller may define `bench_stop` (run on exit, before the store goes). Sets T (the tandem
# binary) and root (the scratch store).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/setup.sh
need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v podman >/dev/null || need+=(podman runc)
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
mkdir -p target/bench
root=$(mktemp -d /tmp/tandem-bench.XXXXXX)
bench_cleanup() {
  if declare -F bench_stop >/dev/null; then bench_stop || true; fi
  rm -rf "$root"
}
trap bench_cleanup EXIT
cat > "$root/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_CONF="$root/containers.conf"

cargo build --release --locked -p tandem
T="$PWD/target/release/tandem"
BUSYBOX_TAR_OUT="$root/rootfs.tar" bash tools/build-busybox-image.sh "$T" --root "$root" >/dev/null
podman import -q --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" --change "CMD [\"/bin/sh\"]" "$root/rootfs.tar" localhost/tandem-busybox:1.35 >/dev/null
