#!/usr/bin/env bash
# Installs every Debian package spoolfs needs to build, test and benchmark.
# Idempotent: quiet and quick when everything is already there.
# Usage: setup.sh [--package]
#   --package  also the tools that build and check the Debian packages
#              (scripts/package.sh): debhelper, dpkg-dev, fakeroot, lintian.
set -euo pipefail

with_package=0
for arg in "$@"; do
    case $arg in
        --package) with_package=1 ;;
        *) echo "setup.sh: unknown argument: $arg (usage: setup.sh [--package])" >&2; exit 2 ;;
    esac
done

packages=(
    g++ meson ninja-build pkg-config   # build
    libfuse3-dev fuse3                 # the FUSE library, fusermount3
    liburing-dev                       # the ring transport (FUSE over io_uring)
    catch2                             # tests
    attr python3 git strace            # tests: getfattr, O_TMPFILE proof, git workload
    libpython3.11-testsuite            # tests: CPython's own suites against the mount
    fio stress-ng                      # benchmarks
)
if [ $with_package -eq 1 ]; then
    # lintian alone pulls in about a hundred packages: only when packaging.
    packages+=(build-essential debhelper dpkg-dev fakeroot lintian)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: missing packages: ${missing[*]}; run as root to install them" >&2
    exit 1
fi
echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
