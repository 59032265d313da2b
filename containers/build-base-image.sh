#!/usr/bin/env bash
# Build a Debian bookworm base image from Debian packages alone (no image registry needed):
# debootstrap a minimal root file system with Python, then import it into Docker.
#
#   containers/build-base-image.sh [IMAGE]      (default: portable-pipelines/base:bookworm)
#
# The image is reused when it already exists. Use it as the toolchain's BASE_IMAGE where no
# registry is reachable: PIPELINES_BASE_IMAGE=portable-pipelines/base:bookworm.
set -euo pipefail

image="${1:-portable-pipelines/base:bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if docker image inspect "$image" >/dev/null 2>&1; then
    echo "base image $image already exists" >&2
    exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is not installed (apt-get install debootstrap)" >&2; exit 2; }

root="$(mktemp -d /tmp/pipelines-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT
echo "debootstrapping bookworm into $root" >&2
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$root" "$mirror" >&2
# Keep the image small: package lists and caches are not needed at run time.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' - "$image" >&2
echo "built $image" >&2
