#!/usr/bin/env bash
# Installs what tandem needs to build and test on a fresh Debian machine (as root). Safe to run
# again: it asks apt only for what is missing, with one `apt-get update`.
set -euo pipefail
packages=(python3 python3-venv curl libseccomp-dev libclang-dev nftables pkg-config busybox-static iproute2 file chromium docker-registry apache2-utils containernetworking-plugins iptables tzdata)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "error: missing packages: ${missing[*]}" >&2
    echo "hint: run this as root (sudo $0)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# kubectl, the client the API endpoint's tests drive (serve_root.rs): the official release,
# checked against its published digest, when the machine has none.
if ! command -v kubectl >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "error: kubectl is not installed" >&2
    echo "hint: run this as root (sudo $0)" >&2
    exit 1
  fi
  release=v1.33.1
  arch=$(dpkg --print-architecture)
  url="https://dl.k8s.io/release/$release/bin/linux/$arch/kubectl"
  curl -fsSLo /usr/local/bin/kubectl.download "$url"
  echo "$(curl -fsSL "$url.sha256")  /usr/local/bin/kubectl.download" | sha256sum --quiet -c -
  chmod 0755 /usr/local/bin/kubectl.download
  mv /usr/local/bin/kubectl.download /usr/local/bin/kubectl
fi
# The Python `kubernetes` client, which serve_root.rs drives: pinned, in an environment of its
# own under target/ (nothing installed into the system's Python).
py_env="$(cd "$(dirname "$0")/.." && pwd)/target/python-kubernetes"
if ! "$py_env/bin/python" -c 'import kubernetes' 2>/dev/null; then
  python3 -m venv "$py_env"
  "$py_env/bin/pip" install -q --disable-pip-version-check kubernetes==37.0.2
fi
command -v cargo >/dev/null || {
  echo "error: cargo is not installed" >&2
  echo "hint: install the Rust toolchain (rustup, stable >= 1.88) and run this again" >&2
  exit 1
}
if [ "${NEED_NEXTEST:-0}" = 1 ] && ! cargo nextest --version >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi
