#!/usr/bin/env bash
# Issue 11 item 3: scripts/package.sh builds the Debian packages; their contents are
# what Debian expects; unpacked into a scratch root, that root's /usr/bin/spoolfs mounts
# through mount -t fuse.spoolfs and unmounts, and its libtempfile-dev builds a program
# against its libtempfile0.
# Usage: package_test.sh SOURCE_ROOT B_SANITIZE
source "$(dirname "$0")/lib.sh"

src=$(readlink -f "$1")
sanitize=${2:-none}
[ "$sanitize" = none ] ||
    skip "the packages are built from source, not from this $sanitize build: tested once, in the unsanitized build"
command -v dpkg-buildpackage >/dev/null ||
    skip "dpkg-buildpackage is missing (apt-get install dpkg-dev, or scripts/setup.sh --package)"

deploy_private_namespace "$@"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/spoolfs-packages-XXXXXX")
on_exit 'rm -rf --one-file-system "$scratch"'

# nocheck: the suite has run the unit tests on this tree already; the package build then
# compiles only what it installs.
start=$SECONDS
DEB_BUILD_OPTIONS="nocheck${DEB_BUILD_OPTIONS:+ $DEB_BUILD_OPTIONS}" \
    nice timeout 2400 "$src/scripts/package.sh" "$scratch/debs" >"$scratch/package.log" 2>&1 ||
    { tail -n 80 "$scratch/package.log" >&2; fail "scripts/package.sh failed"; }
note "scripts/package.sh: $((SECONDS - start)) s"
sed -n '/^package.sh: lintian$/,$p' "$scratch/package.log" >&2

deb() { ls "$scratch"/debs/"$1"_*.deb 2>/dev/null | head -n1; }
for p in spoolfs libtempfile0 libtempfile-dev; do
    [ -n "$(deb $p)" ] || fail "no $p .deb in $(ls "$scratch/debs")"
done
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)

# Contents: every path Debian expects, in the package that should hold it.
has() { # PACKAGE PATH (as dpkg-deb -c lists it, without the leading .)
    dpkg-deb -c "$(deb "$1")" | awk '{print $6}' | grep -qx "\.$2" ||
        fail "$1 lacks $2"
}
has spoolfs /usr/bin/spoolfs
has spoolfs /usr/share/man/man8/spoolfs.8.gz
has spoolfs /usr/share/spoolfs/tmp.mount
has spoolfs /usr/share/doc/spoolfs/examples/fstab
has spoolfs /usr/share/doc/spoolfs/systemd.md
has spoolfs /usr/share/doc/spoolfs/copyright
has libtempfile0 "/usr/lib/$multiarch/libtempfile.so.0"
has libtempfile-dev "/usr/lib/$multiarch/libtempfile.so"
has libtempfile-dev "/usr/lib/$multiarch/libtempfile.a"
has libtempfile-dev "/usr/lib/$multiarch/pkgconfig/tempfile.pc"
has libtempfile-dev /usr/include/tempfile/tempfile.hpp
# Nothing of the filesystem in the library packages, nor the library in spoolfs (it links
# libtempfile statically), and no unit in systemd's search path (it would replace tmp.mount).
if dpkg-deb -c "$(deb spoolfs)" | grep -q 'libtempfile'; then fail "spoolfs ships libtempfile"; fi
if dpkg-deb -c "$(deb libtempfile0)" | grep -qE 'bin/|include/'; then
    fail "libtempfile0 ships more than the library"
fi
for p in spoolfs libtempfile0 libtempfile-dev; do
    if dpkg-deb -c "$(deb $p)" | grep -qE '/(lib|etc)/systemd/'; then fail "$p installs a systemd unit"; fi
done
dpkg-deb -f "$(deb spoolfs)" Depends | grep -qw fuse3 || fail "spoolfs does not depend on fuse3"
dpkg-deb -f "$(deb libtempfile-dev)" Depends | grep -q 'libtempfile0 (= ' ||
    fail "libtempfile-dev does not depend on its libtempfile0"
for p in spoolfs libtempfile0 libtempfile-dev; do
    note "$(basename "$(deb $p)"): $(stat -c %s "$(deb $p)") bytes, $(dpkg-deb -f "$(deb $p)" Installed-Size) KiB installed"
done

# Installed into a scratch root.
root=$scratch/root
for p in spoolfs libtempfile0 libtempfile-dev; do dpkg -x "$(deb $p)" "$root"; done
[ -e "$root/usr/lib/$multiarch/libtempfile.so" ] || fail "the -dev link does not resolve to libtempfile0's library"

# libtempfile-dev: a program built with only the unpacked headers, .pc and .so (the .pc's
# prefix relocated into the scratch root).
pc_dir=$root/usr/lib/$multiarch/pkgconfig
pkg() { PKG_CONFIG_PATH=$pc_dir pkg-config --define-variable=prefix="$root/usr" "$@" tempfile; }
# shellcheck disable=SC2046 # pkg-config output is meant to be split into flags
g++ -std=c++20 -Wall -Wextra -Werror "$src/tests/core/pkgconfig_consumer.cpp" -o "$scratch/consumer" \
    $(pkg --cflags --libs) -Wl,-rpath,"$root/usr/lib/$multiarch" ||
    fail "cannot build against libtempfile-dev"
# meson test may point LD_LIBRARY_PATH at the build's own libtempfile, which would win
# over the consumer's runpath: the check is about the unpacked package alone.
env -u LD_LIBRARY_PATH ldd "$scratch/consumer" |
    grep -qF "$root/usr/lib/$multiarch/libtempfile.so.0" ||
    fail "the consumer did not link the unpacked libtempfile.so.0"
mkdir "$scratch/consumer-tmp"
TMPDIR=$scratch/consumer-tmp env -u LD_LIBRARY_PATH "$scratch/consumer" >/dev/null ||
    fail "the consumer failed"
note "libtempfile-dev: built and ran a consumer against the unpacked package"

# spoolfs: the unpacked /usr/bin/spoolfs, through mount -t fuse.spoolfs.
if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/fuse ]; then
    note "SKIPPED part: mounting needs root and /dev/fuse"
else
    mkdir "$scratch/mnt"
    put_first_on_mount_path "$root/usr/bin/spoolfs"
    on_exit 'umount /usr/local/sbin'
    check_mount_through_mount_fuse3 "$root/usr/bin/spoolfs" "$scratch/mnt" $((64 << 20))
fi
echo "PASS: packages built, contents checked, unpacked spoolfs mounts, -dev builds"
