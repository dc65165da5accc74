"""Rewrite docs/options.md's option table from the one option table (ext/engine/flags.inc,
through `python -m cachewatch options`)."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
table = subprocess.run([sys.executable, "-m", "cachewatch", "options"], check=True,
                       capture_output=True, text=True).stdout.strip()
path = os.path.join(ROOT, "docs", "options.md")
with open(path) as f:
    text = f.read()
new = re.sub(r"(<!-- options: python -m cachewatch options -->\n).*?(\n<!-- /options -->)",
             lambda m: m.group(1) + table + m.group(2), text, flags=re.S)
with open(path, "w") as f:
    f.write(new)
