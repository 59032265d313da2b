# Machine set-up for the integration tests, sourced by scripts/test: Debian packages, a Docker
# engine, and a base image built from Debian packages (no image registry needed).
# Each step is skipped where it cannot run (not root, no apt); the tests that need it then
# skip, unless PIPELINES_REQUIRE_DOCKER=1 (set in CI) makes them fail instead.

DEBIAN_PACKAGES=(docker.io debootstrap nginx-light prometheus prometheus-alertmanager prometheus-pushgateway chromium)
BASE_IMAGE="portable-pipelines/base:bookworm"

ensure_debian_packages() {
    local missing=()
    for package in "${DEBIAN_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        log "cannot install ${missing[*]} (needs root and apt-get): their tests will skip"
        return 0
    fi
    log "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_docker_engine() {
    command -v docker >/dev/null || return 0
    docker version >/dev/null 2>&1 && return 0
    if [ "$(id -u)" != 0 ] || ! command -v dockerd >/dev/null; then
        log "no Docker engine and cannot start one: Docker tests will skip"
        return 0
    fi
    # A daemon killed without a clean stop leaves its pid file behind, and a new one then
    # refuses to start: remove pid files whose process is gone.
    for pid_file in /var/run/docker.pid /var/run/docker/containerd/containerd.pid; do
        if [ -f "$pid_file" ] && ! kill -0 "$(cat "$pid_file" 2>/dev/null)" 2>/dev/null; then
            rm -f "$pid_file"
        fi
    done
    log "starting dockerd (log: /tmp/pipelines-dockerd.log)"
    nohup dockerd >/tmp/pipelines-dockerd.log 2>&1 &
    local daemon=$!
    for _ in $(seq 1 60); do
        docker version >/dev/null 2>&1 && return 0
        kill -0 "$daemon" 2>/dev/null || break
        sleep 1
    done
    log "dockerd did not start; see /tmp/pipelines-dockerd.log"
    tail -5 /tmp/pipelines-dockerd.log >&2
    return 1
}

ensure_base_image() {
    docker version >/dev/null 2>&1 || return 0
    command -v debootstrap >/dev/null || return 0
    "$ROOT/containers/build-base-image.sh" "$BASE_IMAGE"
    export PIPELINES_BASE_IMAGE="$BASE_IMAGE"
}

# A Kubernetes control plane for the kubernetes target's tests, built once from Debian's
# source package (about 25 minutes on 2 cores) and reused from its cache afterwards.
ensure_kubernetes_control_plane() {
    local built
    if built="$("$ROOT/scripts/k8s/build.sh" --print 2>/dev/null)"; then
        export PIPELINES_K8S_BIN="$built"
        return 0
    fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        log "no Kubernetes control plane and cannot build one (needs root and apt-get): its tests will skip"
        return 0
    fi
    log "building the Kubernetes control plane (log: /tmp/pipelines-k8s-build.log; ~25 min once)"
    if built="$("$ROOT/scripts/k8s/build.sh" 2>/tmp/pipelines-k8s-build.log)"; then
        export PIPELINES_K8S_BIN="$built"
    else
        log "the Kubernetes build failed; see /tmp/pipelines-k8s-build.log"
        tail -20 /tmp/pipelines-k8s-build.log >&2
    fi
}

prepare_machine() {
    ensure_debian_packages
    ensure_docker_engine
    ensure_base_image
    ensure_kubernetes_control_plane
    # Containers reach the package registries through this machine's TLS set-up.
    if [ -z "${PIPELINES_CA_BUNDLE:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
        export PIPELINES_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
    fi
    if [ "${CI:-}" = "true" ]; then
        export PIPELINES_REQUIRE_DOCKER=1
    fi
}
