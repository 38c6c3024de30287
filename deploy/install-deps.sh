#!/usr/bin/env bash
# Installs, on Debian 12 as root, every package this project builds, tests and
# runs with. Safe to run twice. The SLURM packages (the test suite stands up
# a throw-away single-node cluster) are included; WITH_SLURM=0 leaves them out.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo "install-deps.sh: run as root (apt-get needs it), e.g. sudo bash $0" >&2
  exit 1
fi
pkgs=(
  build-essential pkg-config make gcc clang libclang-rt-14-dev
  libopenmpi-dev openmpi-bin
  libopenblas-dev
  libmsgpack-dev
  libzstd-dev zstd
  libcmocka-dev
  libxxhash-dev
  zlib1g-dev
  libjansson-dev
  libinih-dev
  libseccomp-dev
  python3
  gnuplot-nox
  python3-numpy
  python3-sentencepiece
)
if [ "${WITH_SLURM:-1}" = 1 ]; then
  pkgs+=(slurmctld slurmd slurm-client munge)
fi
export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -o DPkg::Lock::Timeout=600 "$@"; }
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps.sh: all ${#pkgs[@]} packages already installed"
  exit 0
fi
echo "install-deps.sh: installing ${missing[*]}"
apt_get update -qq
apt_get install -y -qq --no-install-recommends "${missing[@]}"
