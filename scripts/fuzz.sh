#!/usr/bin/env bash
# A long run of the differential fuzzer (tests/hostile/fuzz, docs/fuzzing.md): random
# operation sequences on spoolfs and on a kernel tmpfs side by side, compared step by step.
#
#   scripts/fuzz.sh [--seed N] [--sequences N] [--ops N] [--first N]
#                   [--variant passthrough|heap|spill] [--verbose]
#
#   --seed N        base seed (default: a random one, printed)
#   --sequences N   sequences per spoolfs configuration (default 20000)
#   --ops N         operations per sequence (default 24)
#   --first N       index of the first sequence (default 0)
#   --variant V     only one configuration: passthrough (-o lifetime=mount), heap
#                   (passthrough=off) or spill (passthrough=off,ram=4M)
#   --verbose       print every operation with both results as it runs
#
# Replay a failure with the seed, sequence and configuration its report names:
#   scripts/fuzz.sh --seed 42 --first 1234 --sequences 1 --variant heap --verbose
# Runs as root (it mounts a tmpfs and FUSE). Exits non-zero when spoolfs and tmpfs differ.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }
number() { # option, value
    [[ "$2" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: $1 needs a number, not '$2'" >&2; exit 2; }
}

seed=""
sequences=20000
ops=24
first=0
variant=""
verbose=0
while [ $# -gt 0 ]; do
    case "$1" in
        --seed|--sequences|--ops|--first|--variant)
            [ $# -ge 2 ] || { echo "fuzz.sh: $1 needs a value" >&2; exit 2; }
            case "$1" in
                --seed) number "$1" "$2"; seed=$2 ;;
                --sequences) number "$1" "$2"; sequences=$2 ;;
                --ops) number "$1" "$2"; ops=$2 ;;
                --first) number "$1" "$2"; first=$2 ;;
                --variant)
                    case "$2" in
                        passthrough|heap|spill) variant=$2 ;;
                        *) echo "fuzz.sh: --variant is passthrough, heap or spill, not '$2'" >&2; exit 2 ;;
                    esac ;;
            esac
            shift 2 ;;
        --verbose) verbose=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "fuzz.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[ -n "$seed" ] || seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')

scripts/setup.sh

if [ -f build/build.ninja ]; then
    meson setup --reconfigure build -Dwerror=true >/dev/null
else
    meson setup build -Dwerror=true >/dev/null
fi
if ! ninja -C build fs/spoolfs tests/hostile/fuzz/hostile_fuzz_test >build/fuzz-ninja.log 2>&1; then
    cat build/fuzz-ninja.log
    echo "fuzz.sh: build failed" >&2
    exit 1
fi

echo "fuzz.sh: seed $seed, sequences $first..$((first + sequences - 1)) of $ops operations" \
     "on ${variant:-every configuration}"
export SPOOLFS="$PWD/build/fs/spoolfs"
export SPOOLFS_FUZZ_SEED=$seed SPOOLFS_FUZZ_SEQUENCES=$sequences SPOOLFS_FUZZ_OPS=$ops
export SPOOLFS_FUZZ_FIRST=$first SPOOLFS_FUZZ_VARIANT=$variant SPOOLFS_FUZZ_VERBOSE=$verbose
exec build/tests/hostile/fuzz/hostile_fuzz_test
