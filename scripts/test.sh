#!/usr/bin/env bash
# Builds spoolfs twice (normal, and AddressSanitizer+UndefinedBehaviorSanitizer) and
# runs the whole test suite in both. Exits non-zero on any failure.
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
exit $status
