"""Findings as one self-contained HTML page (no network): a list with filters
by kind, target and process; for each race a timeline with a lane per thread
(its start, the check, the access, the locks held) where the missing order
between the two threads' accesses shows as a broken line; stacks with their
source lines, folded. The page is drawn by a small script from the findings
embedded as JSON."""
import html
import json
import linecache
import os

from . import _cachewatch as _c
from . import report

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em;margin:0 0 .5em}
.filters{display:flex;gap:1em;margin:.5em 0 1em}
.finding{border:1px solid #ccc;border-radius:6px;padding:.6em 1em;margin:0 0 1em}
.finding.race{border-left:6px solid #c0392b}.finding.pool,.finding.thread{border-left:6px solid #d68910}
.title{font-weight:600}.hint{color:#1e7b34;margin:.3em 0}
.meta{color:#666;font-size:.9em}
svg.timeline{display:block;margin:.5em 0;background:#fafafa;border:1px solid #eee}
details{margin:.2em 0}summary{cursor:pointer}
pre{margin:.2em 0 .2em 1em;font-size:12px;white-space:pre-wrap}
table.facts td{padding:0 .8em 0 0}
"""

_SCRIPT = r"""
const data = JSON.parse(document.getElementById('cw-data').textContent);
const NS = 'http://www.w3.org/2000/svg';
function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function svg(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function frameText(f) {
  let t = `${f.function} ${f.file}:${f.line}`;
  if (f.source) t += `\n    ${f.source}`;
  return t;
}
function stackBlock(title, stack) {
  const d = el('details');
  d.appendChild(el('summary', {}, title));
  d.appendChild(el('pre', {}, (stack || []).map(frameText).join('\n')));
  return d;
}
// Steps in the order they ran: the check acted on, the other thread's
// access, then the act (which found the race).
function steps(f) {
  const cur = f.accesses.find(a => a.check) || f.accesses[0];
  const prev = f.accesses.find(a => a !== cur);
  const out = [];
  if (cur.check) out.push({who: cur, what: `check (${cur.check.op})`, at: cur.check.stack});
  out.push({who: prev, what: `${prev.access} (${prev.op})`, at: prev.stack, locks: prev.locks});
  out.push({who: cur, what: `${cur.access} (${cur.op})`, at: cur.stack, locks: cur.locks});
  return out;
}
function timeline(f) {
  const threads = [];
  for (const a of f.accesses) if (!threads.includes(a.thread)) threads.push(a.thread);
  const lanes = ['creator'].concat(threads);
  const ss = steps(f);
  const W = 180 + 170 * (ss.length + 1), LANE = 46, H = LANE * lanes.length + 20;
  const s = svg('svg', {class: 'timeline', width: W, height: H, 'data-lanes': lanes.length});
  const y = i => 30 + i * LANE;
  lanes.forEach((name, i) => {
    s.appendChild(svg('text', {x: 8, y: y(i) + 4, 'font-size': 12},
                      i === 0 ? 'creator' : `thread '${name}'`));
    s.appendChild(svg('line', {x1: 170, y1: y(i), x2: W - 10, y2: y(i), stroke: '#bbb',
                               class: 'lane'}));
  });
  // hand-offs we know of: each thread's start by its creator
  threads.forEach((name, i) => {
    const x = 190 + 20 * i;
    s.appendChild(svg('line', {x1: x, y1: y(0), x2: x, y2: y(i + 1) - 6, stroke: '#2e86c1',
                               'marker-end': 'url(#arrow)', class: 'handoff'}));
    s.appendChild(svg('title', {}, `start: created at ${frameText((f.accesses.find(
        a => a.thread === name).thread_created_at || [{}])[0] || {})}`));
  });
  const defs = svg('defs');
  const m = svg('marker', {id: 'arrow', markerWidth: 8, markerHeight: 8, refX: 6, refY: 3,
                           orient: 'auto'});
  m.appendChild(svg('path', {d: 'M0,0 L6,3 L0,6 z', fill: '#2e86c1'}));
  defs.appendChild(m);
  s.appendChild(defs);
  const pos = [];
  ss.forEach((st, k) => {
    const lane = lanes.indexOf(st.who.thread), x = 260 + 170 * k, yy = y(lane);
    pos.push([x, yy]);
    if (st.locks && st.locks.length)
      s.appendChild(svg('rect', {x: x - 40, y: yy - 12, width: 80, height: 24, fill: '#d5f5e3',
                                 class: 'lockheld'}));
    const dot = svg('circle', {cx: x, cy: yy, r: 7, fill: st.what.startsWith('check') ?
                               '#f5b041' : '#c0392b', class: 'access'});
    dot.appendChild(svg('title', {}, `${st.what}\n${frameText((st.at || [{}])[0] || {})}`));
    s.appendChild(dot);
    s.appendChild(svg('text', {x: x - 40, y: yy - 15, 'font-size': 11}, st.what));
    const top = (st.at || [])[0];
    if (top) s.appendChild(svg('text', {x: x - 40, y: yy + 22, 'font-size': 10, fill: '#555'},
                                `line ${top.line}`));
  });
  // consecutive steps of different threads: nothing orders them
  for (let k = 1; k < ss.length; k++) {
    if (ss[k].who.thread === ss[k - 1].who.thread) continue;
    const [[x1, y1], [x2, y2]] = [pos[k - 1], pos[k]];
    s.appendChild(svg('line', {x1, y1, x2, y2, stroke: '#c0392b', 'stroke-dasharray': '5,4',
                               class: 'unordered'}));
  }
  return s;
}
// The pool's backlog (tasks waiting) at each submit until it was reported.
function backlogChart(points) {
  const W = 520, H = 150, L = 50, B = 25;
  const tMax = Math.max(1, ...points.map(p => p[0]));
  const nMax = Math.max(1, ...points.map(p => p[1]));
  const s = svg('svg', {class: 'backlog', width: W, height: H});
  const x = t => L + (W - L - 10) * t / tMax, y = n => H - B - (H - B - 10) * n / nMax;
  s.appendChild(svg('line', {x1: L, y1: H - B, x2: W - 10, y2: H - B, stroke: '#999'}));
  s.appendChild(svg('line', {x1: L, y1: 10, x2: L, y2: H - B, stroke: '#999'}));
  s.appendChild(svg('polyline', {points: points.map(p => `${x(p[0])},${y(p[1])}`).join(' '),
                                 fill: 'none', stroke: '#d68910', 'stroke-width': 2}));
  s.appendChild(svg('text', {x: 4, y: 16, 'font-size': 11}, `${nMax} waiting`));
  s.appendChild(svg('text', {x: W - 110, y: H - 6, 'font-size': 11}, `${tMax} ms after made`));
  return s;
}
function render() {
  const kind = document.getElementById('f-kind').value;
  const target = document.getElementById('f-target').value;
  const proc = document.getElementById('f-process').value;
  let shown = 0;
  document.querySelectorAll('.finding').forEach(div => {
    const f = data.findings[+div.dataset.index];
    const ok = (!kind || f.group === kind) && (!target || f.target === target) &&
      (!proc || (f.processes || []).map(String).includes(proc));
    div.hidden = !ok;
    shown += ok;
  });
  document.getElementById('shown').textContent = `${shown} of ${data.findings.length} shown`;
}
function options(id, values) {
  const s = document.getElementById(id);
  s.appendChild(el('option', {value: ''}, 'all'));
  [...new Set(values)].sort().forEach(v => s.appendChild(el('option', {value: v}, v)));
  s.addEventListener('change', render);
}
const list = document.getElementById('findings');
data.findings.forEach((f, i) => {
  const div = el('div', {class: `finding ${f.group}`, 'data-index': i});
  let title = `${f.category} on ${f.target}`;
  if (f.key) title += ` at key ${f.key}`;
  div.appendChild(el('div', {class: 'title'}, title));
  const meta = [`seen ${f.hits || 1} time(s)`];
  if (f.processes) meta.push(`process(es) ${f.processes.join(', ')}`);
  if (f.detail) meta.push(f.detail);
  div.appendChild(el('div', {class: 'meta'}, meta.join(' · ')));
  if (f.hint) div.appendChild(el('div', {class: 'hint'}, `Hint: ${f.hint}`));
  if (f.group === 'race') {
    div.appendChild(timeline(f));
    div.appendChild(el('div', {class: 'meta'}, 'blue arrows: hand-offs (each thread\'s ' +
      'start); red dashes: steps of two threads that nothing orders; green: a lock held'));
    f.accesses.forEach(a => {
      div.appendChild(stackBlock(`${a.access} (${a.op}) by '${a.thread}'` +
        (a.locks.length ? ` holding ${a.locks.join(', ')}` : ', no lock held'), a.stack));
      if (a.check) div.appendChild(stackBlock(`the check (${a.check.op}) it acted on`,
                                              a.check.stack));
      div.appendChild(stackBlock(`thread '${a.thread}' created at`, a.thread_created_at));
    });
  } else {
    const t = el('table', {class: 'facts'});
    for (const [k, v] of Object.entries(f.facts || {})) {
      const tr = el('tr');
      tr.appendChild(el('td', {}, k));
      tr.appendChild(el('td', {}, String(v)));
      t.appendChild(tr);
    }
    div.appendChild(t);
    if (f.backlog && f.backlog.length > 1) div.appendChild(backlogChart(f.backlog));
    (f.stacks || []).forEach(s => div.appendChild(stackBlock(s.title, s.stack)));
  }
  list.appendChild(div);
});
options('f-kind', data.findings.map(f => f.group));
options('f-target', data.findings.map(f => f.target));
options('f-process', data.findings.flatMap(f => (f.processes || []).map(String)));
render();
"""


def _with_sources(stack, root):
    """Each frame with its source line (a relative path is read under root,
    the directory the program ran in)."""
    out = []
    for frame in stack or ():
        frame = dict(frame)
        if not frame.get("native") and frame.get("file") and frame.get("line"):
            path = os.path.join(root, frame["file"])
            source = linecache.getline(path, int(frame["line"])).strip()
            if source:
                frame["source"] = source
        out.append(frame)
    return out


def _prepared(finding, root):
    f = dict(finding)
    category = f["category"]
    f["group"] = "race" if category in report.RACES else \
        "pool" if category in report.POOLS else "thread"
    try:
        f["hint"] = _c.finding_hint(f["category"])
    except ValueError:
        pass
    accesses = []
    for access in f.get("accesses", []):
        a = dict(access, stack=_with_sources(access.get("stack"), root),
                 thread_created_at=_with_sources(access.get("thread_created_at"), root),
                 locks=[str(lock) for lock in access.get("locks") or []])
        if a.get("check"):
            a["check"] = dict(a["check"], stack=_with_sources(a["check"].get("stack"), root))
        accesses.append(a)
    if accesses:
        f["accesses"] = accesses
    f["stacks"] = [dict(s, stack=_with_sources(s.get("stack"), root))
                   for s in f.get("stacks", [])]
    return f


def to_html(findings, root=None, title="cachewatch report"):
    """The page for these findings (as cachewatch's JSON holds them); relative
    paths are read under root (default: the current directory)."""
    root = os.path.abspath(root or os.getcwd())
    payload = json.dumps({"findings": [_prepared(f, root) for f in findings]})
    payload = payload.replace("</", "<\\/")  # never ends the script element early
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>{html.escape(title)}</title><style>{_STYLE}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<div class="filters">
<label>kind <select id="f-kind"></select></label>
<label>target <select id="f-target"></select></label>
<label>process <select id="f-process"></select></label>
<span id="shown"></span>
</div>
<div id="findings"></div>
<script type="application/json" id="cw-data">{payload}</script>
<script>{_SCRIPT}</script>
</body></html>
"""


def write(path, findings, root=None):
    """Write the page atomically, as the JSON report is written."""
    return report.write_text(path, to_html(findings, root))
