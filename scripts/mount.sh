#!/usr/bin/env bash
# Builds spoolfs (once, release build in build-release/) and mounts it:
#   scripts/mount.sh [spoolfs options] MOUNTPOINT
# Every argument goes to spoolfs; see `scripts/mount.sh --help`. A MOUNTPOINT that does
# not exist yet is created.
set -euo pipefail

# The mount point is the last argument that is neither an option nor an option's value.
mountpoint=
expect_value=false
for arg in "$@"; do
    if $expect_value; then expect_value=false; continue; fi
    case $arg in
        -o) expect_value=true ;;
        -*) ;;
        *) mountpoint=$arg ;;
    esac
done
if [ -n "$mountpoint" ] && [ ! -e "$mountpoint" ]; then
    mkdir -p -- "$mountpoint"
fi

cd "$(dirname "$0")/.."
scripts/setup.sh
if [ ! -f build-release/build.ninja ]; then
    meson setup build-release --buildtype=release >/dev/null
fi
ninja -C build-release fs/spoolfs >/dev/null
cd - >/dev/null
exec "$(dirname "$0")/../build-release/fs/spoolfs" "$@"
