#!/usr/bin/env bash
# Put the real-person test media that ship in Debian's opencv-doc package into
# .cache/test-media/ (git-ignored). Only the few files the tests use are kept;
# the .deb itself is deleted. Safe to run again: it does nothing when the files
# are already there.
#
# The pictures are OpenCV's sample data (BSD-licensed project); they stay out of
# the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

dest=${TEST_MEDIA_DIR:-$PWD/.cache/test-media}
wanted=(messi5.jpg basketball1.png vtest.avi)

have_all() {
    local f
    for f in "${wanted[@]}"; do
        [[ -s $dest/$f ]] || return 1
    done
}

if have_all; then
    exit 0
fi

for tool in apt-get dpkg-deb; do
    command -v "$tool" >/dev/null || {
        echo "fetch-test-media: '$tool' not found; this script needs a Debian-based machine" >&2
        exit 1
    }
done

mkdir -p "$dest"
work=$(mktemp -d "$dest/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

# apt-get download needs a package list; a fresh machine may not have one yet.
if ! (cd "$work" && apt-get download opencv-doc >/dev/null 2>&1); then
    apt-get update >/dev/null
    (cd "$work" && apt-get download opencv-doc >/dev/null)
fi

deb=("$work"/opencv-doc_*.deb)
[[ -f ${deb[0]} ]] || { echo "fetch-test-media: apt-get download opencv-doc produced no .deb" >&2; exit 1; }
dpkg-deb -x "${deb[0]}" "$work/root"

for f in "${wanted[@]}"; do
    src=$(find "$work/root" -path "*/examples/data/$f" -print -quit)
    [[ -n $src ]] || { echo "fetch-test-media: $f is not in ${deb[0]##*/}" >&2; exit 1; }
    # Same-folder temp + rename: a half-copied file is never taken for a good one.
    cp "$src" "$dest/.$f.part"
    mv -f "$dest/.$f.part" "$dest/$f"
done

have_all
echo "fetch-test-media: ${wanted[*]} in $dest"
