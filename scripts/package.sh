#!/usr/bin/env bash
# Builds the Debian packages (spoolfs, libtempfile0, libtempfile-dev) from this tree,
# checks them with lintian and copies the .debs to OUTDIR.
# Usage: scripts/package.sh OUTDIR
#   Installs the build dependencies first (scripts/setup.sh --package; as root).
#   DEB_BUILD_OPTIONS is honoured: nocheck skips the unit tests and builds only what is
#   installed (the test programs are most of the compile time); parallel=N (default:
#   the number of CPUs).
# The build runs in a scratch copy of the tree (tracked and untracked files, no build
# directories), so the checkout is never written to and two builds do not collide.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: scripts/package.sh OUTDIR" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
outdir=$(cd "$1" && pwd)

"$root/scripts/setup.sh" --package

version=$(cd "$root" && dpkg-parsechangelog -S Version)
meson_version=$(sed -n "s/^  version : '\(.*\)',$/\1/p" "$root/meson.build")
if [ "$version" != "$meson_version" ]; then
    echo "package.sh: debian/changelog says $version, meson.build $meson_version" >&2
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/spoolfs-package-XXXXXX")
trap 'rm -rf "$work"' EXIT
src=$work/spoolfs-$version
mkdir "$src"
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # What is in the working tree now, as git sees it (ignored build directories left out).
    git -C "$root" ls-files -z --cached --others --exclude-standard |
        (cd "$root" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
        tar -C "$root" --null -T - -cf - | tar -C "$src" -xf -
else
    tar -C "$root" --exclude='./build*' --exclude='./obj-*' -cf - . | tar -C "$src" -xf -
fi

export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-}"
case " $DEB_BUILD_OPTIONS " in
    *" parallel="*) ;;
    *) DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:+$DEB_BUILD_OPTIONS }parallel=$(nproc)" ;;
esac
echo "package.sh: building spoolfs $version in $src (DEB_BUILD_OPTIONS=$DEB_BUILD_OPTIONS)"
(cd "$src" && dpkg-buildpackage -b -us -uc)

changes=$(ls "$work"/spoolfs_"$version"_*.changes)
echo "package.sh: lintian"
# Errors fail; warnings and informational tags are printed. Left alone on purpose:
#   I: libtempfile0: no-symbols-control-file  (a C++ library's symbols file lists
#      mangled template instances that change with the compiler; shlibs from the
#      SONAME are enough for one in-tree consumer)
#   I: libtempfile0: hardening-no-fortify-functions  (built with -D_FORTIFY_SOURCE=2
#      -O2 like spoolfs, whose binary has __fprintf_chk; the library's memcpy and read
#      calls have no destination size known at compile time, so none became a _chk call)
lintian --fail-on error --display-info "$changes"

debs=("$work"/*.deb)
cp "${debs[@]}" "$outdir/"
echo "package.sh: in $outdir:"
for d in "${debs[@]}"; do
    printf '  %s (%s bytes)\n' "$(basename "$d")" "$(stat -c %s "$d")"
done
