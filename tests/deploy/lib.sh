# Helpers shared by the deployment tests (sourced). Every wait is bounded; every mount
# a test makes is in a private mount namespace (deploy_private_namespace) and is
# unmounted, its daemon ended by pid, whatever happens.

set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }
note() { echo "-- $*" >&2; }

# Cleanups run at exit, the last registered first, whatever happened.
_cleanups=()
on_exit() { _cleanups=("$1" "${_cleanups[@]}"); }
_run_cleanups() { local c; for c in "${_cleanups[@]}"; do eval "$c" || true; done; }
trap _run_cleanups EXIT

# Runs the calling script again in a private mount namespace (once): the mounts it makes,
# the tmpfs over /usr/local/sbin included, are never seen by the host, and they go with
# the namespace when its last process (the daemon) ends.
deploy_private_namespace() { # "$@" of the script
    [ -n "${SPOOLFS_DEPLOY_NS:-}" ] && return 0
    command -v unshare >/dev/null || skip "unshare (util-linux) is missing"
    SPOOLFS_DEPLOY_NS=1 exec unshare -m --propagation private "$0" "$@"
}

# mount(8) drops the caller's PATH (util-linux's sanitize_env), so mount.fuse3's /bin/sh
# looks for `spoolfs` in its default PATH, which starts with /usr/local/sbin. Putting a
# binary there (in this namespace only) puts it first on the PATH mount.fuse3 searches.
put_first_on_mount_path() { # BINARY
    mount -t tmpfs -o size=1M,mode=755 deploy-path /usr/local/sbin
    ln -s "$1" /usr/local/sbin/spoolfs
}

# Waits up to SECONDS for COMMAND to succeed.
wait_until() { # SECONDS COMMAND...
    local deadline=$((SECONDS + $1)); shift
    until "$@"; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.1
    done
}

# The mountinfo line of a mount point, empty if nothing is mounted there.
mountinfo_of() { awk -v m="$1" '$5 == m' /proc/self/mountinfo; }
is_mounted() { [ -n "$(mountinfo_of "$1")" ]; }
not_mounted() { ! is_mounted "$1"; }

# Pids of the processes running BINARY (its resolved path) with DIR among their arguments.
daemon_pids() { # BINARY DIR
    local exe p
    exe=$(readlink -f "$1")
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/exe" 2>/dev/null)" = "$exe" ] || continue
        tr '\0' '\n' <"$p/cmdline" 2>/dev/null | grep -qxF "$2" && echo "${p#/proc/}"
    done
    return 0
}
no_daemon() { [ -z "$(daemon_pids "$1" "$2")" ]; }

# Unmounts DIR whatever state it is in (a hung daemon's connection is aborted first) and
# ends BINARY's daemons on it, by pid. For traps: never fails.
force_cleanup() { # BINARY DIR
    local bin=$1 dir=$2 dev pid
    if is_mounted "$dir"; then
        timeout 10 umount "$dir" 2>/dev/null || {
            dev=$(mountinfo_of "$dir" | awk '{print $3}' | head -n1)
            [ -n "$dev" ] && echo 1 >"/sys/fs/fuse/connections/${dev#*:}/abort" 2>/dev/null
            umount -l "$dir" 2>/dev/null
        } || true
    fi
    for pid in $(daemon_pids "$bin" "$dir"); do kill -KILL "$pid" 2>/dev/null || true; done
    return 0
}

# The whole check of a spoolfs binary reached through `mount -t fuse.spoolfs`: mounts DIR
# with OPTIONS, checks the mount, a file written and read back, the size df reports, that
# the daemon is BINARY; unmounts; then the same mount again ended by SIGKILL of the
# daemon (auto_unmount must take the mount away); then a bad option (nothing mounted).
# BINARY must be first on mount.fuse3's PATH (put_first_on_mount_path).
check_mount_through_mount_fuse3() { # BINARY DIR SIZE_BYTES
    local bin=$1 dir=$2 size=$3 line got pids status
    on_exit "force_cleanup '$bin' '$dir'"

    timeout 30 mount -t fuse.spoolfs spoolfs "$dir" -o lifetime=mount,size=64M ||
        fail "mount -t fuse.spoolfs failed (status $?)"
    # No wait: mount returns only once the kernel mount exists (the daemon forks after it).
    line=$(mountinfo_of "$dir")
    [ -n "$line" ] || fail "mount returned but $dir is not in /proc/self/mountinfo"
    note "mountinfo: $line"
    # Fields after the separator: fstype, source, super options.
    awk '{for (i = 7; $i != "-"; i++); print $(i+1), $(i+2)}' <<<"$line" |
        grep -qx 'fuse.spoolfs spoolfs' || fail "not a fuse.spoolfs mount of source spoolfs: $line"
    pids=$(daemon_pids "$bin" "$dir")
    [ -n "$pids" ] || fail "no process runs $(readlink -f "$bin") on $dir: mount.fuse3 ran another spoolfs"

    echo "written through mount -t" >"$dir/file"
    got=$(cat "$dir/file")
    [ "$got" = "written through mount -t" ] || fail "read back '$got'"
    got=$(df -B1 --output=size "$dir" | tail -n1 | tr -d ' ')
    [ "$got" = "$size" ] || fail "df reports $got bytes, expected $size (size=64M)"
    note "df: $got bytes"

    timeout 30 umount "$dir" || fail "umount failed (status $?)"
    not_mounted "$dir" || fail "still mounted after umount"
    wait_until 10 no_daemon "$bin" "$dir" || fail "the daemon outlived its unmount by 10 s"
    note "mounted, wrote, read, unmounted"

    # auto_unmount (on by default where fusermount3 exists), through mount.fuse3 too.
    if command -v fusermount3 >/dev/null || [ -x /usr/bin/fusermount3 ]; then
        timeout 30 mount -t fuse.spoolfs spoolfs "$dir" -o lifetime=mount || fail "second mount failed"
        pids=$(daemon_pids "$bin" "$dir")
        [ -n "$pids" ] || fail "no daemon for the second mount"
        kill -KILL $pids
        wait_until 10 not_mounted "$dir" ||
            fail "SIGKILLed daemon: $dir still mounted after 10 s (auto_unmount did not act)"
        note "SIGKILL of the daemon: the mount went away (auto_unmount)"
    else
        note "fusermount3 missing: auto_unmount not checked"
    fi

    # A failed start leaves nothing mounted and nothing running.
    status=0
    timeout 30 mount -t fuse.spoolfs spoolfs "$dir" -o lifetime=bogus 2>/dev/null || status=$?
    [ $status -eq 2 ] || fail "a bad option through mount -t: status $status, expected 2"
    not_mounted "$dir" || fail "a bad option left $dir mounted"
    no_daemon "$bin" "$dir" || fail "a bad option left a daemon running"
    note "bad option: status 2, nothing mounted, nothing running"

    force_cleanup "$bin" "$dir"
}
