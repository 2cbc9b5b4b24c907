#!/usr/bin/env bash
# Builds and runs a program against an installed libtempfile, the way another project
# would: `meson install --destdir` into a scratch directory, then g++ with only
# `pkg-config tempfile` (its prefix relocated into the destdir).
# Usage: pkgconfig_consumer_test.sh BUILD_DIR CONSUMER_SOURCE B_SANITIZE
set -euo pipefail

build_dir=$1
source=$2
sanitize=${3:-none}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/tempfile-consumer-XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# --no-rebuild: meson test already built everything; a nested ninja would race it.
meson install -C "$build_dir" --destdir "$scratch/root" --no-rebuild --quiet

pc=$(find "$scratch/root" -name tempfile.pc -print -quit)
[ -n "$pc" ] || { echo "tempfile.pc was not installed" >&2; exit 1; }
pc_dir=$(dirname "$pc")
prefix=$(PKG_CONFIG_PATH=$pc_dir pkg-config --variable=prefix tempfile)
pkg() { PKG_CONFIG_PATH=$pc_dir pkg-config --define-variable=prefix="$scratch/root$prefix" "$@" tempfile; }
libdir=$(pkg --variable=libdir)

# A sanitized libtempfile needs the sanitizer runtimes, so the consumer is built the same way.
flags=()
if [ "$sanitize" != none ]; then flags+=("-fsanitize=$sanitize"); fi

# shellcheck disable=SC2046 # pkg-config output is meant to be split into flags
g++ -std=c++20 -Wall -Wextra -Wpedantic -Werror "${flags[@]}" "$source" \
    -o "$scratch/consumer" $(pkg --cflags --libs) -Wl,-rpath,"$libdir"

# The consumer must have linked the installed library, not the one in the build tree.
ldd "$scratch/consumer" | grep -F "$libdir/libtempfile.so" >/dev/null ||
    { echo "consumer did not link $libdir/libtempfile.so" >&2; exit 1; }

TMPDIR=$scratch "$scratch/consumer"
