#!/usr/bin/env bash
# Issue 11 item 4: the /tmp mount unit. systemd-analyze verify accepts it (and rejects a
# broken copy, so the check is not vacuous); its Options= mount spoolfs through
# mount.fuse3 as tmpfs's /tmp would be: mode 1777, allow_other, nosuid, nodev, and the
# size a tmpfs with size=50% has.
# Usage: systemd_unit_test.sh UNIT MAN_PAGE SPOOLFS_BINARY
source "$(dirname "$0")/lib.sh"
deploy_private_namespace "$@"

unit=$(readlink -f "$1")
man_page=$(readlink -f "$2")
bin=$(readlink -f "$3")

scratch=$(mktemp -d "${TMPDIR:-/tmp}/spoolfs-unit-XXXXXX")
on_exit 'rm -rf --one-file-system "$scratch"'

# The unit's own promises, read from the file.
grep -qx 'What=spoolfs' "$unit" || fail "What= is not spoolfs"
grep -qx 'Where=/tmp' "$unit" || fail "Where= is not /tmp"
grep -qx 'Type=fuse.spoolfs' "$unit" || fail "Type= is not fuse.spoolfs"
grep -qx 'RequiresMountsFor=/var/tmp /usr/bin/spoolfs' "$unit" || fail "RequiresMountsFor= changed"
options=$(sed -n 's/^Options=//p' "$unit")
for o in lifetime=mount allow_other mode=1777 size=50%% nosuid nodev; do
    grep -q "\(^\|,\)$o\(,\|$\)" <<<"$options" || fail "Options= lacks $o: $options"
done
options=${options//%%/%}   # the unit file's %% is a literal %

if command -v systemd-analyze >/dev/null; then
    mkdir -p "$scratch/units" "$scratch/man/man8"
    cp "$unit" "$scratch/units/tmp.mount"
    ln -s "$man_page" "$scratch/man/man8/spoolfs.8"
    man_check=--man=yes
    command -v man >/dev/null || { man_check=--man=no; note "man is missing: Documentation= not checked"; }
    # MANPATH: Documentation=man:spoolfs(8) must resolve to the page this tree installs.
    MANPATH=$scratch/man timeout 60 systemd-analyze verify "$man_check" "$scratch/units/tmp.mount" ||
        fail "systemd-analyze verify rejects the unit"
    sed 's|^Where=/tmp$|Where=/var/tmp|' "$unit" >"$scratch/units/broken.mount"
    cp "$scratch/units/broken.mount" "$scratch/units/tmp.mount"
    if MANPATH=$scratch/man timeout 60 systemd-analyze verify "$man_check" \
            "$scratch/units/tmp.mount" 2>/dev/null; then
        fail "systemd-analyze verify accepted a tmp.mount whose Where= is /var/tmp"
    fi
    note "systemd-analyze verify: the unit passes, a broken copy fails"
else
    note "SKIPPED part: systemd-analyze (apt package systemd) is missing; the unit was not verified"
fi

# Mount a scratch directory (not /tmp) with exactly the unit's options.
[ "$(id -u)" -eq 0 ] || skip "mount -t needs root (the unit's file checks passed)"
[ -c /dev/fuse ] || skip "/dev/fuse is missing (the unit's file checks passed)"
mkdir "$scratch/mnt" "$scratch/tmpfs"
chmod 755 "$scratch"   # mktemp's 0700 would stop another user before the mount
put_first_on_mount_path "$bin"
on_exit 'umount /usr/local/sbin'
on_exit "force_cleanup '$bin' '$scratch/mnt'"
timeout 30 mount -t fuse.spoolfs spoolfs "$scratch/mnt" -o "$options" ||
    fail "mount with the unit's Options=$options failed"
line=$(mountinfo_of "$scratch/mnt")
note "mountinfo: $line"
[ -n "$line" ] || fail "not mounted"
[ "$(stat -c %a "$scratch/mnt")" = 1777 ] || fail "root mode $(stat -c %a "$scratch/mnt"), expected 1777"
awk '{print $6}' <<<"$line" | tr , '\n' | grep -qx nosuid || fail "not nosuid"
awk '{print $6}' <<<"$line" | tr , '\n' | grep -qx nodev || fail "not nodev"
awk '{print $NF}' <<<"$line" | tr , '\n' | grep -qx allow_other || fail "no allow_other"
# An unprivileged user may create a file (mode 1777 and allow_other together).
if id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null; then
    timeout 10 setpriv --reuid=nobody --regid=nogroup --clear-groups \
        sh -c "echo x >'$scratch/mnt/by-nobody'" || fail "user nobody cannot create a file"
    [ "$(stat -c %U "$scratch/mnt/by-nobody")" = nobody ] || fail "file not owned by nobody"
fi
# size=50% means what it means to tmpfs.
mount -t tmpfs -o size=50% deploy-oracle "$scratch/tmpfs"
on_exit "umount '$scratch/tmpfs'"
ours=$(df -B1 --output=size "$scratch/mnt" | tail -n1 | tr -d ' ')
theirs=$(df -B1 --output=size "$scratch/tmpfs" | tail -n1 | tr -d ' ')
note "size=50%: spoolfs $ours bytes, tmpfs $theirs bytes"
diff=$((ours > theirs ? ours - theirs : theirs - ours))
[ $((diff * 1000)) -le "$theirs" ] || fail "size=50% is $ours bytes on spoolfs, $theirs on tmpfs"
timeout 30 umount "$scratch/mnt" || fail "umount failed"
wait_until 10 no_daemon "$bin" "$scratch/mnt" || fail "the daemon outlived the unmount by 10 s"
echo "PASS: the unit verifies and its options mount spoolfs as tmpfs's /tmp"
