#!/usr/bin/env bash
# Benchmarks spoolfs against a kernel tmpfs: the same workloads on both, in alternation
# (tmpfs, spoolfs, tmpfs, spoolfs, ...), and a table of the medians and their ratio.
# See docs/benchmarks.md for what each workload measures.
#
#   scripts/bench.sh [--quick] [--markdown] [--rounds N] [--timeout SECONDS]
#                    [--builddir DIR] [--options OPTS]
#
# --options adds spoolfs -o options to the main mount (passthrough=off, uring=off, say).
# Needs root (it mounts a tmpfs), fio, git, tar, meson, ninja, fusermount3. Sets
# fuse.enable_uring=Y for the run (the ring transport), restored on exit.
# Progress goes to stderr, the table to stdout. Everything it creates lives in one
# fresh temporary directory, removed on exit; both mounts are always unmounted.
set -euo pipefail

usage() { # exit status
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit "$1"
}

root=$(cd "$(dirname "$0")/.." && pwd)
quick=0
markdown=0
rounds=
phase_timeout=
builddir=$root/build-bench
extra_options=
while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=1 ;;
    --markdown) markdown=1 ;;
    --rounds) rounds=${2:?--rounds needs a number}; shift ;;
    --timeout) phase_timeout=${2:?--timeout needs seconds}; shift ;;
    --builddir) builddir=${2:?--builddir needs a directory}; shift ;;
    --options) extra_options=,${2:?--options needs mount options}; shift ;;
    -h | --help) usage 0 ;;
    *) echo "bench.sh: unknown argument $1" >&2; usage 2 ;;
    esac
    shift
done

# Sizes: the full run is the issue's; --quick scales everything down to about a minute.
if [ $quick -eq 1 ]; then
    seq_mib=256 rand_mib=64 small_files=2000 tempfiles=1000 spill_ram_mib=64 client_stats=5000
    tree_src=/usr/include/linux tree_rounds=1
    : "${rounds:=3}" "${phase_timeout:=60}"
else
    seq_mib=1024 rand_mib=256 small_files=20000 tempfiles=10000 spill_ram_mib=256
    client_stats=50000
    tree_src=/usr/include tree_rounds=
    : "${rounds:=3}" "${phase_timeout:=120}"
fi
: "${tree_rounds:=$rounds}"
case $rounds in '' | *[!0-9]* | 0) echo "bench.sh: --rounds must be a positive number" >&2; exit 2 ;; esac
case $phase_timeout in '' | *[!0-9]* | 0) echo "bench.sh: --timeout must be a positive number" >&2; exit 2 ;; esac

log() { printf '%s\n' "$*" >&2; }
die() { log "bench.sh: $*"; exit 1; }

# ---- tools and build -------------------------------------------------------------------

[ "$(id -u)" -eq 0 ] || die "must run as root (it mounts a tmpfs)"
missing=()
for tool in fio git tar find du grep timeout fusermount3 mount umount meson ninja awk sort; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] || die "missing tools: ${missing[*]} (scripts/setup.sh installs them)"
[ -d "$tree_src" ] || die "$tree_src is missing (the tree workloads extract a tarball of it)"

# A release build of its own, never the developers' build/.
if [ ! -f "$builddir/build.ninja" ]; then
    output=$(meson setup "$builddir" "$root" --buildtype=release 2>&1) ||
        die "meson setup $builddir failed:"$'\n'"$(tail -n 20 <<<"$output")"
fi
output=$(ninja -C "$builddir" -j2 fs/spoolfs bench/smallfiles 2>&1) ||
    die "build in $builddir failed:"$'\n'"$(tail -n 20 <<<"$output")"
spoolfs=$builddir/fs/spoolfs
smallfiles=$builddir/bench/smallfiles
build_seconds=$SECONDS
SECONDS=0

# ---- mounts, always undone -------------------------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/spoolfs-bench.XXXXXX")
mnt_tmpfs=$work/tmpfs
mnt_spoolfs=$work/spoolfs
mnt_spill=$work/spill-mount
mkdir "$mnt_tmpfs" "$mnt_spoolfs" "$mnt_spill" "$work/spill" "$work/out" "$work/home"
daemon_pid=
spill_pid=
fuse_connection=
job_pid=
uring_param=/sys/module/fuse/parameters/enable_uring
saved_uring=

is_mounted() { awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/self/mounts; }

cleanup() {
    set +e
    trap - INT TERM
    if [ -n "$job_pid" ]; then
        kill -TERM -- "-$job_pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$job_pid" 2>/dev/null || break; sleep 0.1; done
    fi
    if is_mounted "$mnt_spoolfs"; then
        if ! timeout 10 fusermount3 -u "$mnt_spoolfs" 2>/dev/null; then
            # Busy or hung: abort the connection so nothing can block, then detach.
            [ -n "$fuse_connection" ] &&
                echo 1 >"/sys/fs/fuse/connections/$fuse_connection/abort" 2>/dev/null
            timeout 10 fusermount3 -uz "$mnt_spoolfs"
        fi
    fi
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid"
        for _ in $(seq 50); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$daemon_pid" 2>/dev/null
    fi
    if is_mounted "$mnt_spill"; then
        timeout 10 fusermount3 -u "$mnt_spill" 2>/dev/null || timeout 10 fusermount3 -uz "$mnt_spill"
    fi
    [ -n "$spill_pid" ] && kill -KILL "$spill_pid" 2>/dev/null
    [ -n "$saved_uring" ] && echo "$saved_uring" >"$uring_param"
    if is_mounted "$mnt_tmpfs"; then
        timeout 10 umount "$mnt_tmpfs" || umount -l "$mnt_tmpfs"
    fi
    if is_mounted "$mnt_spoolfs" || is_mounted "$mnt_tmpfs" || is_mounted "$mnt_spill"; then
        log "bench.sh: could not unmount under $work; left it in place"
    else
        timeout 120 rm -rf --one-file-system "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# /proc/self/mounts escapes white space, and is_mounted compares paths verbatim.
case $work in *[[:space:]]*) die "the temporary directory $work has white space in its path" ;; esac
mount -t tmpfs -o mode=1777 spoolfs-bench "$mnt_tmpfs" || die "cannot mount a tmpfs"
# The kernel offers FUSE over io_uring only while fuse.enable_uring is Y, read at mount
# time (--options uring=off measures /dev/fuse).
if [ -w "$uring_param" ]; then
    saved_uring=$(cat "$uring_param")
    echo Y >"$uring_param"
fi
"$spoolfs" -f -o "lifetime=mount,fsname=spoolfs-bench$extra_options" "$mnt_spoolfs" \
    2>"$work/spoolfs.log" &
daemon_pid=$!
for _ in $(seq 100); do
    is_mounted "$mnt_spoolfs" && break
    kill -0 "$daemon_pid" 2>/dev/null || break
    sleep 0.1
done
is_mounted "$mnt_spoolfs" || die "spoolfs did not mount: $(cat "$work/spoolfs.log")"
# The connection's id is the mount's minor device number (major 0); read it from
# mountinfo, not stat(), which could hang on a broken mount.
fuse_connection=$(awk -v m="$mnt_spoolfs" '$5 == m { split($3, d, ":"); print d[2] }' \
    /proc/self/mountinfo)

# ---- running one phase -----------------------------------------------------------------

# Runs a command under timeout in the background and waits for it, so that INT and
# TERM interrupt the wait at once; cleanup kills the job's process group (timeout makes
# one). Returns the command's status (124 on timeout).
bounded() {
    local status=0
    timeout -k 5 "$phase_timeout" "$@" &
    job_pid=$!
    wait "$job_pid" || status=$?
    job_pid=
    case $status in 124 | 137) log "  timed out after ${phase_timeout}s: $*" ;; esac
    return $status
}

# Rows of the table, in order: id, unit, label. Units "MiB/s" and "IOPS" are better
# higher, "s" and "us" lower.
rows=()
declare -A row_unit row_label
row() { rows+=("$1"); row_unit[$1]=$2; row_label[$1]=$3; }
row seq_write MiB/s "sequential write $seq_mib MiB, 1 MiB blocks, fsync"
row seq_read MiB/s "sequential read"
row seq_cold MiB/s "sequential read after DONTNEED"
row rand_write IOPS "random write 4 KiB, $rand_mib MiB file, fsync"
row rand_read IOPS "random read 4 KiB"
row rand_cold IOPS "random read 4 KiB after DONTNEED"
for p in create stat read list unlink; do row "files_$p" s "$small_files small files: $p"; done
tree_name=${tree_src#/usr/}
for p in untar find du grep rm; do row "tree_$p" s "$tree_name tree: $p"; done
for p in add commit status; do row "git_$p" s "git $p ($tree_name)"; done
row tempfile s "$tempfiles tempfiles: create, write 64 KiB, read, close"
row clients_p99 us "2 clients at once: stat of an open file, p99"
row_label[git_add]="git init + add -A ($tree_name)"
row_label[tree_grep]="$tree_name tree: grep -r"
row_label[tree_rm]="$tree_name tree: rm -rf"

results=$work/results
: >"$results"
# record ID SIDE VALUE CPU HWM_KIB
record() {
    local id=$1 side=$2 value=${3:-FAIL} cpu=${4:--} hwm=${5:-0} unit=${row_unit[$1]}
    printf '%s %s %s %s %s\n' "$id" "$side" "$value" "$cpu" "$hwm" >>"$results"
    [ "$value" = FAIL ] && unit=
    if [ "$side" = spoolfs ] && [ "$cpu" != - ]; then
        log "$(printf '  %-8s %-52s %12s %-5s (daemon %s s, %s MiB peak)' "$side" \
            "${row_label[$id]}" "$value" "$unit" "$cpu" "$((hwm / 1024))")"
    else
        log "$(printf '  %-8s %-52s %12s %-5s' "$side" "${row_label[$id]}" "$value" "$unit")"
    fi
}

# A line "phase=... seconds=S daemon_cpu=C daemon_hwm_kib=K" -> "S C K".
phase_fields() {
    awk -v p="$1" '$1 == "phase=" p {
        for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
        print f["seconds"], f["daemon_cpu"], f["daemon_hwm_kib"] }' "$2"
}

probe_args() { # side -> the smallfiles option that samples the daemon
    if [ "$1" = spoolfs ]; then printf '%s\n' --daemon-pid "$daemon_pid"; fi
}

# timed ID SIDE COMMAND...: runs a command, records its wall time in seconds.
timed() {
    local id=$1 side=$2 out=$work/out/phase
    shift 2
    local probe
    mapfile -t probe < <(probe_args "$side")
    if bounded "$smallfiles" time "${probe[@]}" -- "$@" >"$out"; then
        # shellcheck disable=SC2046 # three fields on purpose
        record "$id" "$side" $(phase_fields command "$out")
    else
        record "$id" "$side" FAIL - 0
        return 1
    fi
}

# fio_phase ID SIDE FIELD FIO-ARGS...: one fio job; records MiB/s or IOPS from fio's own
# report (fio takes about half a second to start, which its figures leave out).
fio_phase() {
    local id=$1 side=$2 terse=$work/out/fio
    shift 2
    local probe
    mapfile -t probe < <(probe_args "$side")
    rm -f "$terse"
    if bounded "$smallfiles" time "${probe[@]}" -- fio --name="$id" --ioengine=psync \
        --direct=0 --disk_util=0 --output-format=terse --terse-version=3 \
        --output="$terse" "$@" >"$work/out/phase"; then
        # terse v3: read bandwidth KiB/s and IOPS are fields 7 and 8, write's 48 and 49.
        local value
        value=$(awk -F';' -v unit="${row_unit[$id]}" 'NR == 1 {
            w = ($47 > 0); bw = w ? $48 : $7; iops = w ? $49 : $8
            if (unit == "IOPS") printf "%d\n", iops; else printf "%.1f\n", bw / 1024 }' "$terse")
        local cpu hwm
        read -r _ cpu hwm < <(phase_fields command "$work/out/phase")
        record "$id" "$side" "$value" "$cpu" "$hwm"
    else
        record "$id" "$side" FAIL - 0
        return 1
    fi
}

# Notes how many of FILE's pages are cached (after a write: did the writes fill the cache?).
note_resident() {
    local side=$1 file=$2
    bounded "$smallfiles" resident "$file" >"$work/out/resident" || return 1
    awk -v side="$side" '{ split($1, p, "="); split($2, r, "="); print side, p[2], r[2] }' \
        "$work/out/resident" >>"$work/resident"
}

# Drops FILE's pages from the page cache with posix_fadvise(DONTNEED) and notes how many
# stayed (tmpfs keeps them all: its page cache is its storage).
evict() {
    local side=$1 file=$2
    bounded "$smallfiles" evict "$file" >"$work/out/evict" || return 1
    awk -v side="$side" '{ split($1, p, "="); split($3, a, "="); print side, p[2], a[2] }' \
        "$work/out/evict" >>"$work/evictions"
}

# ---- workloads: each takes the side and its directory ----------------------------------

workload_seq() {
    local side=$1 dir=$2 file=$2/seq
    local args=(--filename="$file" --size="${seq_mib}M" --bs=1M)
    local status
    fio_phase seq_write "$side" "${args[@]}" --rw=write --end_fsync=1 &&
        note_resident "$side" "$file" &&
        fio_phase seq_read "$side" "${args[@]}" --rw=read --invalidate=0 &&
        evict "$side" "$file" &&
        fio_phase seq_cold "$side" "${args[@]}" --rw=read --fadvise_hint=sequential --invalidate=1
    status=$?
    bounded rm -f "$file"
    return $status
}

workload_rand() {
    local side=$1 dir=$2 file=$2/rand
    local args=(--filename="$file" --size="${rand_mib}M" --bs=4k --randseed=1)
    local status
    fio_phase rand_write "$side" "${args[@]}" --rw=randwrite --end_fsync=1 &&
        note_resident "$side" "$file" &&
        fio_phase rand_read "$side" "${args[@]}" --rw=randread --fadvise_hint=random \
            --invalidate=0 &&
        evict "$side" "$file" &&
        fio_phase rand_cold "$side" "${args[@]}" --rw=randread --fadvise_hint=random \
            --invalidate=1
    status=$?
    bounded rm -f "$file"
    return $status
}

workload_files() {
    local side=$1 dir=$2/files out=$work/out/files
    mkdir "$dir"
    local probe status=0
    mapfile -t probe < <(probe_args "$side")
    bounded "$smallfiles" files "$dir" "$small_files" 4096 "${probe[@]}" >"$out" || status=$?
    for p in create stat read list unlink; do
        if grep -q "^phase=$p " "$out"; then
            # shellcheck disable=SC2046 # three fields on purpose
            record "files_$p" "$side" $(phase_fields "$p" "$out")
        else
            record "files_$p" "$side" FAIL - 0
        fi
    done
    bounded rm -rf "$dir"
    return $status
}

# shellcheck disable=SC2016 # the inner sh expands "$1"
workload_tree() {
    local side=$1 dir=$2/tree
    mkdir "$dir"
    timed tree_untar "$side" tar -C "$dir" -xf "$work/tree.tar" &&
        timed tree_find "$side" find "$dir" &&
        timed tree_du "$side" du -s "$dir" &&
        timed tree_grep "$side" sh -c 'grep -r -F spoolfs-bench-no-match "$1"; [ $? -eq 1 ]' \
            sh "$dir" &&
        timed tree_rm "$side" rm -rf "$dir"
    local status=$?
    bounded rm -rf "$dir"
    return $status
}

# shellcheck disable=SC2016 # the inner sh expands "$1"
workload_git() {
    local side=$1 dir=$2/repo
    mkdir "$dir"
    bounded tar -C "$dir" -xf "$work/tree.tar" &&
        timed git_add "$side" sh -c 'cd "$1" && git init -q && git add -A' sh "$dir" &&
        timed git_commit "$side" git -C "$dir" commit -q -m bench &&
        timed git_status "$side" git -C "$dir" status --porcelain
    local status=$?
    bounded rm -rf "$dir"
    return $status
}

# spoolfs: the xattr makes the directory's files vanish on close; tmpfs needs the unlink.
workload_tempfile() {
    local side=$1 dir=$2/tempfiles out=$work/out/tempfile cleanup=--cleanup=unlink
    mkdir "$dir"
    [ "$side" = spoolfs ] && cleanup=--cleanup=close
    local probe status=0
    mapfile -t probe < <(probe_args "$side")
    bounded "$smallfiles" tempfile "$dir" "$tempfiles" 65536 "$cleanup" "${probe[@]}" \
        >"$out" || status=$?
    if [ $status -eq 0 ]; then
        # shellcheck disable=SC2046 # three fields on purpose
        record tempfile "$side" $(phase_fields tempfile "$out")
    else
        record tempfile "$side" FAIL - 0
    fi
    bounded rm -rf "$dir"
    return $status
}

# Two processes stat() at once; the row is the p99 latency of one stat, in microseconds.
workload_clients() {
    local side=$1 dir=$2/clients out=$work/out/clients
    mkdir "$dir"
    local probe status=0
    mapfile -t probe < <(probe_args "$side")
    bounded "$smallfiles" clients "$dir" "$client_stats" 2 "${probe[@]}" >"$out" || status=$?
    local seconds cpu hwm
    if [ $status -eq 0 ] && read -r seconds cpu hwm < <(phase_fields clients_p99 "$out"); then
        record clients_p99 "$side" "$(awk -v s="$seconds" 'BEGIN { printf "%.1f", s * 1e6 }')" \
            "$cpu" "$hwm"
    else
        record clients_p99 "$side" FAIL - 0
    fi
    bounded rm -rf "$dir"
    return $status
}

# ---- the run ---------------------------------------------------------------------------

export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null HOME=$work/home
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@localhost
export LC_ALL=C

tar -C "$(dirname "$tree_src")" -cf "$work/tree.tar" "$(basename "$tree_src")" 2>/dev/null ||
    die "cannot make a tarball of $tree_src"

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$root" diff --quiet HEAD -- fs core 2>/dev/null || commit="$commit+changes"
mode=full
[ $quick -eq 1 ] && mode=quick
log "spoolfs bench ($mode): $rounds rounds, tmpfs then spoolfs each round, ${phase_timeout}s per phase"
log "work dir $work, spoolfs pid $daemon_pid, commit $commit"

load_before=$(cut -d' ' -f1 /proc/loadavg)
failures=0
for workload in seq rand files tree git tempfile clients; do
    n=$rounds
    case $workload in tree | git) n=$tree_rounds ;; esac
    for round in $(seq "$n"); do
        log "== $workload, round $round/$n (at ${SECONDS}s)"
        for side in tmpfs spoolfs; do
            dir=$mnt_tmpfs/bench
            [ "$side" = spoolfs ] && dir=$mnt_spoolfs/bench
            if ! { mkdir -p "$dir" && "workload_$workload" "$side" "$dir"; }; then
                failures=$((failures + 1))
                log "  $side: $workload failed (see above; spoolfs log: $work/spoolfs.log)"
            fi
            bounded rm -rf "$dir" || true
            kill -0 "$daemon_pid" 2>/dev/null ||
                die "the spoolfs daemon died: $(cat "$work/spoolfs.log")"
        done
    done
done

# ---- spilling: 4 x ram= through spoolfs, beside the same write to the spill filesystem --

# dd's own rate (MiB/s) of a sequential 1 MiB-block write with a final fsync.
dd_rate() { # file mib
    bounded dd if=/dev/zero of="$1" bs=1M count="$2" conv=fsync 2>"$work/dd.log" || return 1
    awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "copied,") s = $(i + 1)
        print '"$2"' / s }' "$work/dd.log"
}
spill_mib=$((4 * spill_ram_mib))
"$spoolfs" -f -o "lifetime=mount,ram=${spill_ram_mib}M,spill_dir=$work/spill" "$mnt_spill" \
    2>"$work/spill.log" &
spill_pid=$!
for _ in $(seq 100); do is_mounted "$mnt_spill" && break; sleep 0.1; done
spill_through=() spill_direct=()
if is_mounted "$mnt_spill"; then
    for round in $(seq "$rounds"); do
        log "== spill, round $round/$rounds: ${spill_mib} MiB with ram=${spill_ram_mib}M"
        spill_direct+=("$(dd_rate "$work/spill/direct" "$spill_mib")") || failures=$((failures + 1))
        rm -f "$work/spill/direct"
        spill_through+=("$(dd_rate "$mnt_spill/through" "$spill_mib")") || failures=$((failures + 1))
        rm -f "$mnt_spill/through"
    done
else
    log "bench.sh: the spill spoolfs did not mount: $(cat "$work/spill.log")"
    failures=$((failures + 1))
fi
# The floor of a request served on its caller's CPU: two context switches, as a pipe
# round trip between two processes pinned to one CPU (docs/performance.md).
log "== round trip floor: pipe ping-pong on one CPU"
pingpong_note=
if pingpong=$(bounded "$smallfiles" pingpong $((client_stats * 2))); then
    pingpong_note="a pipe round trip between two processes on one CPU (two context switches, the floor of a ring request): ${pingpong#pingpong_us=} us"
else
    failures=$((failures + 1))
fi
median_of() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
spill_note=$(awk -v t="$(median_of "${spill_through[@]}")" -v d="$(median_of "${spill_direct[@]}")" \
    -v m="$spill_mib" -v r="$spill_ram_mib" 'BEGIN { if (t == "" || d == "") exit
    printf "spill: %d MiB (4 x ram=%dM) written through spoolfs at %.0f MiB/s, straight to the spill filesystem at %.0f MiB/s: ratio %.2f", m, r, t, d, t / d }')

# ---- the table -------------------------------------------------------------------------

# Per row and side: the median of the rounds (FAIL if any round failed); the ratio is
# spoolfs/tmpfs for rates and tmpfs/spoolfs for times, so above 1 means spoolfs is faster.
# The daemon's CPU seconds are the median of its rounds, its peak RSS the largest. The
# spread, (max - min) / median of the rounds, flags rows too noisy to quote.
table=$(
    for id in "${rows[@]}"; do
        printf '%s\t%s\t%s\t' "$id" "${row_unit[$id]}" "${row_label[$id]}"
        awk -v id="$id" '
            function median(list, n,    sorted, i, j, t) {
                for (i = 1; i <= n; i++) sorted[i] = list[i]
                for (i = 2; i <= n; i++)
                    for (j = i; j > 1 && sorted[j - 1] > sorted[j]; j--) {
                        t = sorted[j]; sorted[j] = sorted[j - 1]; sorted[j - 1] = t }
                return n % 2 ? sorted[(n + 1) / 2] : (sorted[n / 2] + sorted[n / 2 + 1]) / 2
            }
            $1 == id {
                side = $2
                if ($3 == "FAIL") { fail[side] = 1; next }
                v[side, ++n[side]] = $3
                if (side == "spoolfs" && $4 != "-") { cpu[++ncpu] = $4; if ($5 > hwm) hwm = $5 }
            }
            END {
                spread = 0
                for (s = 0; s < 2; s++) {
                    side = s ? "spoolfs" : "tmpfs"
                    if (fail[side] || !n[side]) { printf "FAIL\t"; continue }
                    lo = hi = v[side, 1]
                    for (i = 1; i <= n[side]; i++) {
                        l[i] = v[side, i]
                        if (l[i] < lo) lo = l[i]
                        if (l[i] > hi) hi = l[i]
                    }
                    m = median(l, n[side])
                    printf "%.6g\t", m
                    if (m > 0 && (hi - lo) / m > spread) spread = (hi - lo) / m
                }
                if (ncpu) printf "%.2f\t%.0f\t", median(cpu, ncpu), hwm / 1024
                else printf "-\t-\t"
                printf "%.0f\n", 100 * spread
            }' "$results"
    done
)

format_value() { # value unit
    case $1 in FAIL | -) printf '%s' "$1" ;; *)
        case $2 in
        s) awk -v v="$1" 'BEGIN { if (v < 1) printf "%.1f ms", v * 1000; else printf "%.2f s", v }' ;;
        IOPS) awk -v v="$1" 'BEGIN { printf "%.0f IOPS", v }' ;;
        us) awk -v v="$1" 'BEGIN { printf "%.1f us", v }' ;;
        *) awk -v v="$1" -v u="$2" 'BEGIN { printf "%.0f %s", v, u }' ;;
        esac ;;
    esac
}

ratio() { # tmpfs spoolfs unit
    case "$1 $2" in *FAIL*) printf -- '-'; return ;; esac
    awk -v t="$1" -v s="$2" -v u="$3" 'BEGIN {
        r = (u == "s" || u == "us") ? (s > 0 ? t / s : 0) : (t > 0 ? s / t : 0)
        printf "%.2f", r }'
}

header=("workload" "tmpfs" "spoolfs" "ratio" "daemon CPU s" "daemon peak RSS MiB")
lines=()
noisy=()
while IFS=$'\t' read -r id unit label t s cpu hwm spread; do
    lines+=("$label"$'\t'"$(format_value "$t" "$unit")"$'\t'"$(format_value "$s" "$unit")"$'\t'"$(ratio "$t" "$s" "$unit")"$'\t'"$cpu"$'\t'"$hwm")
    [ "$spread" -gt 20 ] && noisy+=("$label: $spread%")
    : "$id"
done <<<"$table"

# A file of "side pages cached" lines -> "tmpfs N%, spoolfs M%" ("-": could not count).
cached_share() {
    [ -s "$1" ] || return 0
    awk '$3 != "-" { kept[$1] += $3; total[$1] += $2 } END {
        for (s in total) printf "%s %.0f%%\n", s, total[s] ? 100 * kept[s] / total[s] : 0 }' \
        "$1" | sort -r | paste -sd, - | sed 's/,/, /g'
}
after_write=$(cached_share "$work/resident")
evictions=$(cached_share "$work/evictions")

tree_note=
[ "$tree_rounds" = "$rounds" ] || tree_note=" ($tree_rounds for the $tree_name tree and git)"
plural=s
[ "$rounds" -eq 1 ] && plural=
notes=("spoolfs $commit vs tmpfs, $(uname -r), $(nproc) CPUs; scripts/bench.sh $mode run,\
 median of $rounds round$plural$tree_note"
    "ratio: above 1 means spoolfs is faster (rates: spoolfs/tmpfs, times: tmpfs/spoolfs)")
[ -n "$extra_options" ] && notes+=("spoolfs mounted with -o lifetime=mount$extra_options")
[ -n "$after_write" ] && notes+=("pages cached when the read after the write starts: $after_write")
[ -n "$evictions" ] && notes+=("pages still cached after posix_fadvise(DONTNEED): $evictions")
[ -n "$spill_note" ] && notes+=("$spill_note")
[ -n "$pingpong_note" ] && notes+=("$pingpong_note")
notes+=("run time ${SECONDS}s (build ${build_seconds}s); load average $load_before before,\
 $(cut -d' ' -f1 /proc/loadavg) after (above $(nproc), other work competes for the CPUs)")
# Markdown joins adjacent lines into one paragraph: separate them.
if [ $markdown -eq 1 ]; then printf '%s\n\n' "${notes[@]}"; else printf '%s\n' "${notes[@]}" ''; fi
if [ $markdown -eq 1 ]; then
    printf '| %s | %s | %s | %s | %s | %s |\n' "${header[@]}"
    echo '|---|--:|--:|--:|--:|--:|'
    for line in "${lines[@]}"; do
        IFS=$'\t' read -r -a cells <<<"$line"
        printf '| %s | %s | %s | %s | %s | %s |\n' "${cells[@]}"
    done
else
    printf '%-52s %14s %14s %6s %8s %9s\n' "${header[0]}" "${header[1]}" "${header[2]}" \
        "${header[3]}" "CPU s" "RSS MiB"
    for line in "${lines[@]}"; do
        IFS=$'\t' read -r -a cells <<<"$line"
        printf '%-52s %14s %14s %6s %8s %9s\n' "${cells[@]}"
    done
fi
if [ ${#noisy[@]} -gt 0 ]; then
    echo
    echo "Noisy rows: rounds differ by more than 20% of the median (max - min, either side):"
    printf -- '- %s\n' "${noisy[@]}"
fi
[ $failures -eq 0 ] || { log "bench.sh: $failures workload runs failed"; exit 1; }
