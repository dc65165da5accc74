"""The README is a short front door and docs/ is behind it: the README stays
under 150 lines and links only to pages that exist; each page says first
whom it is for; every option the README shows is a real one."""
import glob
import os
import re

from helpers import ROOT, run_python

README = os.path.join(ROOT, "README.md")
DOCS = os.path.join(ROOT, "docs")


def readme():
    with open(README) as f:
        return f.read()


def test_readme_is_short_and_links_to_what_exists():
    text = readme()
    assert len(text.splitlines()) <= 150
    links = re.findall(r"\]\(([^)]+)\)", text)
    assert len(links) >= 6
    for link in links:
        assert os.path.exists(os.path.join(ROOT, link)), link


def test_each_doc_page_says_whom_it_is_for():
    pages = sorted(glob.glob(os.path.join(DOCS, "*.md")))
    assert len(pages) >= 6
    for page in pages:
        with open(page) as f:
            paragraphs = f.read().split("\n\n")
        assert paragraphs[0].startswith("# "), page
        assert paragraphs[1].startswith("For: "), page


def flag_names():
    proc = run_python(["-m", "cachewatch", "options"])
    return set(re.findall(r"^\| `(\w+)` \|", proc.stdout, re.M))


def test_options_the_docs_show_exist():
    """The README and every page behind it."""
    text = readme()
    for page in sorted(glob.glob(os.path.join(DOCS, "*.md"))):
        with open(page) as f:
            text += f.read()
    flags = flag_names()
    assert {"watch", "json_path", "redact"} <= flags
    shown = set(re.findall(r"--cachewatch-([a-z-]+)", text))
    shown |= set(re.findall(r"cachewatch run --([a-z-]+)", text))
    for setting in re.findall(r'CACHEWATCH_OPTIONS="([^"]*)"', text):
        shown |= {word.split("=", 1)[0] for word in setting.split()}
    assert shown, "the README shows no option"
    aliases = {"sarif": "sarif-path", "html": "html-path"}  # as cachewatch run's --sarif
    unknown = {o for o in shown if aliases.get(o, o).replace("-", "_") not in flags}
    assert unknown == set(), unknown


def test_the_readme_demo_runs_and_reports_the_race():
    """`bash scripts/demo.sh`, the README's first command: it sets up what it
    needs (here already set up) and prints a race report on the bundled
    scenario."""
    import subprocess

    assert "bash scripts/demo.sh" in readme()
    proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "demo.sh")], capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "WARNING: cachewatch: check-then-act race on __main__.CELL_CACHE" in proc.stderr
    assert "SUMMARY: cachewatch: check-then-act race on __main__.CELL_CACHE" in proc.stderr


def test_every_entry_point_help_renders(pytester):
    """`--help` of the command line, its subcommands and pytest with the
    plugin installed: each renders, and shows the %p of the path options."""
    for args in (["-m", "cachewatch", "--help"], ["-m", "cachewatch", "run", "--help"],
                 ["-m", "cachewatch", "report", "--help"], ["-m", "cachewatch", "options"]):
        proc = run_python(args)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, (args, proc.stderr[-2000:])
    assert "%p becomes the pid" in run_python(["-m", "cachewatch", "run", "--help"]).stdout
    result = pytester.runpytest_subprocess("--help")
    assert result.ret == 0, result.stderr.str()[-2000:]
    assert "--cachewatch-json-path" in result.stdout.str()


def test_the_overhead_tables_are_made_from_the_committed_results(tmp_path):
    """docs/overhead.md's tables are bench/table.py's rendering of
    bench/results.json, and the check sees a difference."""
    import json
    import subprocess
    import sys

    table = os.path.join(ROOT, "bench", "table.py")
    done = subprocess.run([sys.executable, table, "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    results = json.load(open(os.path.join(ROOT, "bench", "results.json")))
    results["macro_callgrind"][0]["watching_ratio"] += 0.5
    changed = tmp_path / "results.json"
    changed.write_text(json.dumps(results))
    done = subprocess.run([sys.executable, table, "--check", "--results", str(changed)],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "run python bench/table.py" in done.stderr
