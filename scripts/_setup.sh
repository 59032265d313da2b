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
