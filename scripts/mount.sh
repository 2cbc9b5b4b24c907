#!/usr/bin/env bash
# Builds spoolfs (once, release build in build-release/) and mounts it:
#   scripts/mount.sh [spoolfs options] MOUNTPOINT
# Every argument goes to spoolfs; see `scripts/mount.sh --help`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
if [ ! -f build-release/build.ninja ]; then
    meson setup build-release --buildtype=release >/dev/null
fi
ninja -C build-release fs/spoolfs >/dev/null
cd - >/dev/null
exec "$(dirname "$0")/../build-release/fs/spoolfs" "$@"
