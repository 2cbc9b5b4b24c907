#!/usr/bin/env bash
# Builds spoolfs twice (normal, and AddressSanitizer+UndefinedBehaviorSanitizer) and
# runs the whole test suite in both; then, as root, the suites that mount once more over
# the ring transport (FUSE over io_uring, fs/ring_io.hpp). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

configure() { # dir, extra meson args...
    local dir=$1; shift
    if [ -f "$dir/build.ninja" ]; then
        meson setup --reconfigure "$dir" "$@" >/dev/null
    else
        meson setup "$dir" "$@" >/dev/null
    fi
}

configure build -Dwerror=true
configure build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false

# The kernel offers FUSE over io_uring only while fuse.enable_uring is Y (read at each
# mount): N for the first pass (/dev/fuse), Y for the ring pass, and the previous value
# restored whatever happens.
uring_param=/sys/module/fuse/parameters/enable_uring
set_uring=0
if [ "$(id -u)" -eq 0 ] && [ -w "$uring_param" ]; then
    set_uring=1
    saved_uring=$(cat "$uring_param")
    trap 'echo "$saved_uring" > "$uring_param"' EXIT
    trap 'exit 130' INT TERM HUP
    echo N > "$uring_param"
fi

status=0
for dir in build build-asan; do
    echo "== $dir"
    if ! ninja -C "$dir" >"$dir/ninja.log" 2>&1; then
        cat "$dir/ninja.log"
        echo "== $dir: build failed"
        status=1
        continue
    fi
    if ! meson test -C "$dir" --print-errorlogs --num-processes 2; then
        status=1
    fi
done
if [ $set_uring -eq 1 ]; then
    echo Y > "$uring_param"
    for dir in build build-asan; do
        [ -x "$dir/fs/spoolfs" ] || continue
        echo "== $dir, ring transport (enable_uring=Y)"
        meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes 2 \
            --suite mount --suite hostile --suite containers || status=1
        # The deploy tests that mount; package_test builds packages and mounts nothing new.
        meson test -C "$dir" --no-rebuild --print-errorlogs \
            install_mount_test systemd_unit_test || status=1
    done
else
    echo "== ring transport: skipped (needs root and $uring_param, Linux 6.14+)"
fi
exit $status
