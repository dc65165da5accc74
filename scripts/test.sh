#!/usr/bin/env bash
# The whole test suite: the engine's C unit tests (plain, under
# ThreadSanitizer and under valgrind memcheck, with ctest) and the Python
# tests (pytest, on the machine's python3 and then on each other CPython
# pyenv has: scripts/test-versions.sh), after setting the machine up. Extra
# arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(bash scripts/setup-machine.sh --with-nova | tail -n 1)

for variant in plain tsan memcheck; do
  dir="build-c-$variant"
  flags=()
  [ "$variant" = tsan ] && flags=(-DCW_SANITIZE=thread)
  [ "$variant" = memcheck ] && flags=(-DCW_MEMCHECK=ON)  # valgrind, about 30 s
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug "${flags[@]}" >/dev/null
  cmake --build "$dir" -j2 >/dev/null
  echo "== ctest ($variant)"
  (cd "$dir" && ctest --output-on-failure)
done

# The option and suppression parsers under libFuzzer (ASan and UBSan), a
# fixed number of executions each (more with CACHEWATCH_FULL=1).
echo "== fuzz"
cmake -S . -B build-c-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug -DCW_FUZZ=ON >/dev/null
cmake --build build-c-fuzz -j2 >/dev/null
(cd build-c-fuzz && ctest --output-on-failure -V -R '^fuzz_' | grep -aE 'executions|FAILED|selftest|tests passed')

echo "== pytest"
"$PY" -m pytest -q tests/python "$@"

# The same suite on every other CPython pyenv has (3.9, 3.10, 3.12, 3.13).
bash scripts/test-versions.sh "$@"
