#!/usr/bin/env bash
# Installs what building and testing cachewatch needs on Debian, and a venv
# with the Python packages, then builds and installs cachewatch into it.
# Idempotent; prints the venv's python on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
PACKAGES="build-essential cmake pkg-config libcmocka-dev libunwind-dev libre2-dev python3-dev python3-venv valgrind clang libclang-rt-14-dev chromium chromium-driver"
# --with-nova: also Debian's python3-nova (Zed), real code the tests judge, and
# the CPython test suite of /usr/bin/python3 (test_concurrent_futures).
[ "${1:-}" = "--with-nova" ] && PACKAGES="$PACKAGES python3-nova libpython3.11-testsuite"
missing=""
for p in $PACKAGES; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing Debian packages:$missing" >&2
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >&2
fi

PY="${PYTHON:-python3}"
VENV="${VENV:-build-venv}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV" >&2
fi
"$VENV/bin/python" -m pip install -q --upgrade pip >&2
"$VENV/bin/python" -m pip install -q -r requirements-test.txt >&2
CACHEWATCH_WERROR=1 "$VENV/bin/python" -m pip install -q --no-build-isolation . >&2
echo "$PWD/$VENV/bin/python"
