# Shared set-up for scripts/demo and scripts/test: a virtualenv with the SDK and its tools,
# at the versions pinned in constraints.txt. Sourced, not run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PIPELINES_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

log() { printf '==> %s\n' "$*" >&2; }

ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating virtualenv $VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    # Reinstall only when the project's requirements changed since the last install.
    local stamp="$VENV/.pipelines-installed"
    local digest
    digest="$(cat "$ROOT/pyproject.toml" "$ROOT/constraints.txt" | sha256sum | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
        log "installing portable-pipelines and its tools (constraints.txt)"
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
        "$VENV/bin/python" -m pip install --quiet -c "$ROOT/constraints.txt" -e "$ROOT[dev]"
        echo "$digest" > "$stamp"
    fi
    export PATH="$VENV/bin:$PATH"
}

# nginx routes traffic to the instances of a deploy (and of the demo's rollback drill).
ensure_nginx() {
    command -v nginx >/dev/null && return 0
    [ -x /usr/sbin/nginx ] && { export PATH="$PATH:/usr/sbin"; return 0; }
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        log "nginx is missing and cannot be installed here (needs root and apt-get)"
        return 1
    fi
    log "installing nginx-light (Debian)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
}
