#!/usr/bin/env bash
# Sets the machine up, then runs cachewatch on a bundled scenario: Nova's
# CELL_CACHE filled without its per-uuid lock. Prints a race report.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(bash scripts/setup-machine.sh | tail -n 1)
cd scenarios
"$PY" -m cachewatch run --watch __main__:CELL_CACHE cell_cache_nolock.py || status=$?
# 66 is cachewatch saying "races were reported": the demo worked.
[ "${status:-0}" -eq 66 ]
