#!/usr/bin/env bash
# Builds a Kubernetes control plane (kube-apiserver, kube-controller-manager, kube-scheduler,
# kubemark) from Debian's source package, because no registry reachable here ships the servers.
# The binaries are cached outside any checkout, keyed by the source version and the hash of our
# patches, so a warm machine skips the build (about 25 minutes on 2 cores).
#
# Usage: scripts/k8s/build.sh            build (or reuse) and print the binaries' directory
#        scripts/k8s/build.sh --print    print the directory if it is complete, else fail
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${PIPELINES_K8S_CACHE:-/var/cache/portable-pipelines/kubernetes}"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubemark)
BUILD_PACKAGES=(golang-1.19-go etcd-server etcd-client rsync jq dpkg-dev)
GO_BIN=/usr/lib/go-1.19/bin

log() { printf 'k8s-build: %s\n' "$*" >&2; }

patch_hash() {
    cat "$HERE"/patches/*.patch | sha256sum | cut -c1-12
}

# A private apt configuration adds the deb-src entry for Debian's sources, so the
# system's own sources and lists stay untouched.
private_apt() {
    local dir="$CACHE_ROOT/apt"
    mkdir -p "$dir/lists/partial" "$dir/archives/partial" "$dir/etc"
    local suite
    suite="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
    printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian %s main\n' \
        "$suite" >"$dir/etc/sources.list"
    APT_OPTS=(
        -o "Dir::Etc::SourceList=$dir/etc/sources.list"
        -o "Dir::Etc::SourceParts=-"
        -o "Dir::State::Lists=$dir/lists"
        -o "Dir::Cache=$dir"
        -o "Dir::Cache::archives=$dir/archives"
        -o "APT::Sandbox::User=root"
    )
}

source_version() {
    apt-cache "${APT_OPTS[@]}" showsrc kubernetes 2>/dev/null | awk '/^Version:/ {print $2; exit}'
}

install_build_packages() {
    local missing=()
    for package in "${BUILD_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    apt-get -o DPkg::Lock::Timeout=900 update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
}

main() {
    private_apt
    if [ "${1:-}" = "--print" ]; then
        local found
        found="$(ls -d "$CACHE_ROOT"/*-"$(patch_hash)" 2>/dev/null | tail -1 || true)"
        [ -n "$found" ] && [ -f "$found/COMPLETE" ] && { echo "$found"; return 0; }
        return 1
    fi
    apt-get "${APT_OPTS[@]}" update -qq >&2
    local version
    version="$(source_version)"
    [ -n "$version" ] || { log "no kubernetes source package found"; return 1; }
    local out="$CACHE_ROOT/$version-$(patch_hash)"
    if [ -f "$out/COMPLETE" ]; then
        log "reusing $out"
        echo "$out"
        return 0
    fi
    # One build at a time per machine: a second caller waits, then reuses the first's result.
    exec 9>"$CACHE_ROOT/build.lock"
    flock 9
    if [ -f "$out/COMPLETE" ]; then
        log "reusing $out"
        echo "$out"
        return 0
    fi
    install_build_packages
    local work="$CACHE_ROOT/src-$version"
    rm -rf "$work"
    mkdir -p "$work"
    log "downloading the kubernetes $version source package"
    (cd "$work" && apt-get "${APT_OPTS[@]}" source --download-only kubernetes >/dev/null)
    (cd "$work" && dpkg-source --no-check -x ./*.dsc tree >/dev/null)
    local tree="$work/tree"
    for patch in "$HERE"/patches/*.patch; do
        log "applying $(basename "$patch")"
        patch -d "$tree" -p1 --forward --quiet <"$patch"
    done
    # 1.20.5+really1.20.2-1.1+deb12u1 is upstream 1.20.2 (Debian's "+really" marks a downgrade).
    local upstream="${version#*:}"
    upstream="${upstream%%-*}"
    case "$upstream" in *+really*) upstream="${upstream##*+really}" ;; esac
    upstream="${upstream%%+*}"
    cat >"$work/version" <<VERSION
KUBE_GIT_VERSION='v$upstream'
KUBE_GIT_MAJOR='${upstream%%.*}'
KUBE_GIT_MINOR='$(echo "$upstream" | cut -d. -f2)'
KUBE_GIT_TREE_STATE='clean'
KUBE_GIT_COMMIT='0000000000000000000000000000000000000000'
VERSION
    log "building in $tree (log below; about 25 minutes on 2 cores)"
    (cd "$tree" && env PATH="$GO_BIN:$PATH" GOPROXY=off \
        KUBE_GIT_VERSION_FILE="$work/version" \
        make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubemark" >&2)
    local staging="$out.partial"
    rm -rf "$staging"
    mkdir -p "$staging"
    for binary in "${BINARIES[@]}"; do
        cp "$tree/_output/local/go/bin/$binary" "$staging/"
    done
    echo "$version" >"$staging/COMPLETE"
    rm -rf "$out"
    mv "$staging" "$out"
    rm -rf "$work"
    log "binaries in $out"
    echo "$out"
}

main "$@"
