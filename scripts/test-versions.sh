#!/usr/bin/env bash
# The pytest suite, every scenario with it, on each of pyenv's other
# CPythons (3.11, the machine's own, is scripts/test.sh's main run): a venv
# per version (build-venv-3.X), cachewatch built into it with -Werror. An
# absent version is skipped with a line saying so; under CI (CI set) every
# one must be present. CPython's own suites (test_host_suites), the bench
# smoke run and this matrix's own checks stay on the main run. Extra
# arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSIONS="${CACHEWATCH_VERSIONS:-3.9 3.10 3.12 3.13}"
ROOT="${PYENV_ROOT:-$HOME/.pyenv}"
shopt -s nullglob
failed=""

for version in $VERSIONS; do
  found=("$ROOT"/versions/"$version".*/bin/python"$version")
  if [ ${#found[@]} -eq 0 ]; then
    if [ -n "${CI:-}" ]; then
      echo "== CPython $version: not on this machine (pyenv versions), and CI must prove it" >&2
      exit 1
    fi
    echo "== CPython $version: not on this machine, skipped"
    continue
  fi
  python=$(printf '%s\n' "${found[@]}" | sort -V | tail -n 1)
  echo "== pytest on CPython $version ($python)"
  venv_python=$(PYTHON="$python" VENV="build-venv-$version" bash scripts/setup-machine.sh | tail -n 1)
  "$venv_python" -m pytest -q tests/python \
    --ignore tests/python/test_host_suites.py \
    --ignore tests/python/test_bench.py \
    --ignore tests/python/test_versions.py "$@" || failed="$failed $version"
done
if [ -n "$failed" ]; then
  echo "== pytest failed on CPython$failed" >&2
  exit 1
fi
