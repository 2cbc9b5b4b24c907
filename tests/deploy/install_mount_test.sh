#!/usr/bin/env bash
# Issue 11 item 2: `meson install --destdir` puts everything where Debian expects it, and
# the installed spoolfs mounts through `mount -t fuse.spoolfs` (mount.fuse3) and unmounts.
# Usage: install_mount_test.sh BUILD_DIR
source "$(dirname "$0")/lib.sh"
deploy_private_namespace "$@"

build_dir=$1
[ "$(id -u)" -eq 0 ] || skip "mount -t needs root"
[ -c /dev/fuse ] || skip "/dev/fuse is missing"
command -v mount.fuse3 >/dev/null || [ -x /sbin/mount.fuse3 ] || skip "mount.fuse3 (fuse3) is missing"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/spoolfs-install-XXXXXX")
root=$scratch/root
mkdir "$scratch/mnt"
on_exit 'rm -rf --one-file-system "$scratch"'

# --no-rebuild: meson test already built everything; a nested ninja would race it.
meson install -C "$build_dir" --destdir "$root" --no-rebuild --quiet >/dev/null
prefix=$(meson introspect --buildoptions "$build_dir" |
    python3 -c 'import json, sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
p=$root$prefix
note "installed under $p:"
(cd "$root" && find . -type f -o -type l | sort) >&2

# What Debian expects where (relative to the prefix; libdir may be multiarch).
for f in bin/spoolfs share/man/man8/spoolfs.8 share/spoolfs/tmp.mount \
         share/doc/spoolfs/examples/fstab share/doc/spoolfs/systemd.md \
         include/tempfile/tempfile.hpp; do
    [ -e "$p/$f" ] || fail "not installed: $prefix/$f"
done
[ -x "$p/bin/spoolfs" ] || fail "$prefix/bin/spoolfs is not executable"
for pattern in 'libtempfile.so' 'libtempfile.so.[0-9]*' 'libtempfile.a' 'tempfile.pc'; do
    [ -n "$(find "$p" -path "$p/lib*" -name "$pattern" -print -quit)" ] ||
        fail "not installed under $prefix/lib*: $pattern"
done
grep -q '^Type=fuse.spoolfs$' "$p/share/spoolfs/tmp.mount" || fail "installed unit is not fuse.spoolfs"
grep -qE '^spoolfs[[:space:]]+/[^[:space:]]+[[:space:]]+fuse\.spoolfs[[:space:]]' \
    "$p/share/doc/spoolfs/examples/fstab" || fail "no fstab line of type fuse.spoolfs in the example"
"$p/bin/spoolfs" --version >/dev/null || fail "the installed spoolfs --version failed"

put_first_on_mount_path "$p/bin/spoolfs"
on_exit 'umount /usr/local/sbin'
check_mount_through_mount_fuse3 "$p/bin/spoolfs" "$scratch/mnt" $((64 << 20))
echo "PASS: meson install layout; mount -t fuse.spoolfs with the installed binary"
