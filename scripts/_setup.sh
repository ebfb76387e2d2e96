# Shared setup for the project scripts: find Python 3.12+, make .venv, install.
# Sourced, not run. Sets PY (the venv's python) and leaves the cwd at the project root.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

is_new_enough() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }

find_python() {
    if [ -n "${PYTHON:-}" ]; then
        if is_new_enough "$PYTHON"; then echo "$PYTHON"; return 0; fi
        echo "error: \$PYTHON=$PYTHON is not Python 3.12 or newer" >&2; return 1
    fi
    local candidate
    for candidate in python3.13 python3.12 python3; do
        if command -v "$candidate" >/dev/null 2>&1 && is_new_enough "$candidate"; then
            command -v "$candidate"; return 0
        fi
    done
    # pyenv's installed versions, newest first (its shims for python3.12/3.13 fail unless
    # PYENV_VERSION names them, which is why every candidate above is actually run).
    local root version
    if command -v pyenv >/dev/null 2>&1; then root="$(pyenv root)"; else root="${PYENV_ROOT:-$HOME/.pyenv}"; fi
    for version in $(ls -1 "$root/versions" 2>/dev/null | sort -rV); do
        candidate="$root/versions/$version/bin/python3"
        if [ -x "$candidate" ] && is_new_enough "$candidate"; then echo "$candidate"; return 0; fi
    done
    echo "error: Tessera needs Python 3.12 or newer, and none was found (tried python3.13," \
        "python3.12, python3 and pyenv's versions in $root/versions)." >&2
    echo "       Install one, or point PYTHON at it: PYTHON=/path/to/python3.12 $0" >&2
    return 1
}

if [ ! -x .venv/bin/python ] || ! is_new_enough .venv/bin/python; then
    BASE_PY="$(find_python)"
    echo "==> creating .venv with $BASE_PY" >&2
    rm -rf .venv
    "$BASE_PY" -m venv .venv
fi
PY="$ROOT/.venv/bin/python"
stamp=".venv/.installed-$(cat pyproject.toml | cksum | cut -d' ' -f1)"
if [ ! -f "$stamp" ]; then
    echo "==> installing Tessera and its dev tools into .venv" >&2
    "$PY" -m pip install --quiet --upgrade pip >&2
    "$PY" -m pip install --quiet -e ".[dev]" >&2
    rm -f .venv/.installed-* && touch "$stamp"
fi
