"""Findings as one self-contained HTML page (no network): a list with filters
by kind, target and process; for each race a timeline with a lane per thread
drawn from both threads' last sync events (starts, puts and gets, sets and
waits, ends and joins as arrows between lanes; locks held as bars) and the
accesses among them (the check, the other thread's access, the act), where
the missing order between the two threads shows as a broken line; stacks
with their source lines, folded. The page is drawn by a small script from
the findings embedded as JSON."""
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
.timeline-wrap{overflow-x:auto}
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
// Each race's timeline. Items are the two threads' last sync events (their
// histories) and the accesses: the check acted on, the other thread's access
// and the act. Events sit where they ran (a global sequence); an access sits
// among its own thread's events: the check as early as its place allows, the
// other thread's access as late as its place allows (before its thread's next
// event and before the act), so a window nothing closes shows as one.
function items(f) {
  const out = [];
  const cur = f.accesses[0], prev = f.accesses[1];
  const until = cur.history_until || 0;
  f.accesses.forEach((a, lane) => {
    const evs = a.history || [];
    evs.forEach(e => out.push({lane, key: e.seq, ev: e}));
    const before = n => evs.filter(e => e.n < n).pop();
    const after = n => evs.find(e => e.n >= n);
    const early = n => { const b = before(n), x = after(n);
                         return b ? b.seq + 0.3 : x ? x.seq - 0.7 : 0; };
    const late = n => { const x = after(n);
                        return Math.min(x ? x.seq : Infinity, until || Infinity) - 0.5; };
    if (a === cur) {
      if (a.check) out.push({lane, key: a.check.events_before === undefined ? 0.1 :
                             early(a.check.events_before), step: 'check',
                             what: `check (${a.check.op})`, at: a.check.stack});
      out.push({lane, key: until ? until - 0.2 : 1e18, step: 'act',
                what: `${a.access} (${a.op})`, at: a.stack, locks: a.locks});
    } else if (a === prev) {
      const key = a.events_before === undefined ? 0.2 : late(a.events_before);
      if (a.check) out.push({lane, key: key - 0.1, step: 'other-check',
                             what: `check (${a.check.op})`, at: a.check.stack});
      out.push({lane, key, step: 'other', what: `${a.access} (${a.op})`, at: a.stack,
                locks: a.locks});
    }
    // A step older than the thread's oldest kept event: what the thread did
    // between them is not in the report (a thread keeps its last events
    // only), and the page says so instead of drawing nothing there.
    const placed = [a.events_before, a.check && a.check.events_before]
      .filter(n => n !== undefined && n !== null);
    if (evs.length && placed.length && Math.min(...placed) < evs[0].n)
      out.push({lane, key: evs[0].seq - 0.05, gap: evs[0].n - Math.min(...placed)});
  });
  // A lock one thread alone took, held at none of the steps, neither orders
  // nor protects anything here (an import's, a logging call's): left out.
  const lockId = l => l.split(' ')[0];
  const held = new Set(out.flatMap(i => (i.locks || []).map(lockId)));
  const lanesOf = new Map();
  out.forEach(i => { if (i.ev && i.ev.lock) {
    const id = lockId(i.ev.lock);
    lanesOf.set(id, (lanesOf.get(id) || new Set()).add(i.lane));
  }});
  const kept = out.filter(i => !(i.ev && i.ev.lock) || held.has(lockId(i.ev.lock)) ||
                               lanesOf.get(lockId(i.ev.lock)).size > 1);
  kept.sort((p, q) => p.key - q.key);
  return kept;
}
// Where an event was, as a line of text.
function eventText(e) {
  const what = e.lock ? `${e.kind} ${e.lock.split(' ')[0]}` :
    e.label ? `${e.kind}: ${e.label}` : e.kind;
  const at = (e.at || [])[0];
  return at ? `${what}\n${frameText(at)}` : what;
}
function timeline(f) {
  const its = items(f);
  const threads = f.accesses.map(a => a.thread);
  // A thread whose start is not among the lanes' events starts from a lane
  // of its own: its creator.
  const starts = new Set(its.filter(i => i.ev && i.ev.kind === 'start').map(i => i.ev.object));
  const startedHere = a => (a.history || []).some(e => e.kind === 'begin' &&
                                                        starts.has(e.object));
  const created = a => (a.thread_created_at || []).length > 0; // not the main thread
  const orphan = f.accesses.some(a => created(a) && !startedHere(a));
  const lanes = (orphan ? ['creator'] : []).concat(threads);
  const off = orphan ? 1 : 0;
  const COL = 62, X0 = 190, LANE = 56;
  const W = X0 + COL * (its.length + 1), H = LANE * lanes.length + 40;
  const s = svg('svg', {class: 'timeline', width: W, height: H, 'data-lanes': lanes.length});
  const y = i => 44 + i * LANE;
  const defs = svg('defs');
  [['arrow', '#2e86c1'], ['arrow-join', '#7d3c98']].forEach(([id, colour]) => {
    const m = svg('marker', {id, markerWidth: 8, markerHeight: 8, refX: 6, refY: 3,
                             orient: 'auto'});
    m.appendChild(svg('path', {d: 'M0,0 L6,3 L0,6 z', fill: colour}));
    defs.appendChild(m);
  });
  s.appendChild(defs);
  lanes.forEach((name, i) => {
    s.appendChild(svg('text', {x: 8, y: y(i) + 4, 'font-size': 12},
                      orphan && i === 0 ? 'creator' : `thread '${name}'`));
    s.appendChild(svg('line', {x1: X0 - 20, y1: y(i), x2: W - 10, y2: y(i), stroke: '#bbb',
                               class: 'lane'}));
  });
  const x = k => X0 + COL * k;
  its.forEach((it, k) => { it.x = x(k); it.y = y(it.lane + off); });
  // locks held: from an acquire to its release in one lane (or from the lane's
  // start, for a lock an access held that was taken before the history begins)
  const bars = [];
  f.accesses.forEach((a, lane) => {
    const mine = its.filter(i => i.lane === lane);
    const open = new Map();
    mine.forEach(i => {
      if (!i.ev || !i.ev.lock) return;
      const id = i.ev.lock.split(' ')[0];
      if (i.ev.kind === 'acquire' && !open.has(id)) open.set(id, i.x);
      else if (i.ev.kind === 'release') {
        bars.push({lane, id, from: open.has(id) ? open.get(id) : X0 - 20, to: i.x,
                   what: i.ev.lock});
        open.delete(id);
      }
    });
    open.forEach((from, id) => bars.push({lane, id, from, to: W - 10, what: id}));
    mine.filter(i => i.step).forEach(i => (i.locks || []).forEach(l => {
      const id = l.split(' ')[0];
      if (!bars.some(b => b.lane === lane && b.id === id && b.from <= i.x && i.x <= b.to))
        bars.push({lane, id, from: X0 - 20, to: i.x + 10, what: l});
    }));
  });
  bars.forEach((b, n) => {
    const yy = y(b.lane + off);
    const r = svg('rect', {x: b.from, y: yy - 11, width: Math.max(4, b.to - b.from), height: 22,
                           fill: '#d5f5e3', stroke: '#82e0aa', class: 'lockheld'});
    r.appendChild(svg('title', {}, `${b.what} held`));
    s.appendChild(r);
    s.appendChild(svg('text', {x: b.from + 2, y: yy + 20 + 9 * (n % 2), 'font-size': 9,
                               fill: '#1e7b34'}, b.id));
  });
  // hand-offs: a publish (or a start, or a thread's end) to the consumes of
  // the same object after it in the other lane
  const arrow = (x1, y1, x2, y2, cls, title, join) => {
    const l = svg('line', {x1, y1, x2: x2 - 2, y2, stroke: join ? '#7d3c98' : '#2e86c1',
                           'stroke-width': 1.5, 'marker-end': `url(#${join ? 'arrow-join' : 'arrow'})`,
                           class: cls});
    l.appendChild(svg('title', {}, title));
    s.appendChild(l);
  };
  const gives = {publish: 1, start: 1, end: 1}, takes = {consume: 1, begin: 1};
  its.filter(i => i.ev && takes[i.ev.kind]).forEach(c => {
    const giver = its.filter(p => p.ev && gives[p.ev.kind] && p.lane !== c.lane &&
      p.ev.object === c.ev.object && p.ev.seq < c.ev.seq).pop();
    if (giver) {
      const dir = giver.y < c.y ? -8 : 8;
      arrow(giver.x, giver.y - dir, c.x, c.y + dir, 'handoff',
            `${eventText(giver.ev)}\n  \u2192 ${eventText(c.ev)}`, giver.ev.kind === 'end');
    }
  });
  if (orphan) f.accesses.forEach((a, lane) => {
    if (!created(a) || startedHere(a)) return;
    const begin = its.find(i => i.lane === lane && i.ev && i.ev.kind === 'begin');
    const bx = begin ? begin.x : X0 - 18 + 6 * lane; // left of the first column
    arrow(bx, y(0), bx, y(lane + off) - 8, 'handoff',
          `start: created at ${frameText((a.thread_created_at || [{}])[0] || {})}`);
  });
  // events and steps
  its.forEach((it, k) => {
    if (it.gap) {
      const t = svg('text', {x: it.x - 24, y: it.y + 20, 'font-size': 10, fill: '#777',
                             class: 'gap'}, `\u22ef ${it.gap} not kept`);
      t.appendChild(svg('title', {}, `${it.gap} sync event(s) of this thread after the ` +
        'step before this mark are not in the report: a report keeps each thread\'s last ' +
        'events only'));
      s.appendChild(t);
      return;
    }
    if (it.ev) {
      const e = it.ev;
      if (e.lock) return; // drawn as bars
      const shape = gives[e.kind] ? svg('rect', {x: it.x - 5, y: it.y - 5, width: 10, height: 10,
                                                 fill: '#2e86c1', class: 'event'})
                                  : svg('circle', {cx: it.x, cy: it.y, r: 5, fill: '#fff',
                                                   stroke: '#2e86c1', 'stroke-width': 2,
                                                   class: 'event'});
      shape.setAttribute('data-kind', e.kind);
      shape.appendChild(svg('title', {}, eventText(e)));
      s.appendChild(shape);
      s.appendChild(svg('text', {x: it.x - 14, y: it.y + 20, 'font-size': 9,
                                 fill: '#1a5276'}, (e.label || e.kind).split('.').pop()));
      return;
    }
    const dot = svg('circle', {cx: it.x, cy: it.y, r: 7, fill: it.step.endsWith('check') ?
                               '#f5b041' : '#c0392b', class: 'access'});
    dot.setAttribute('data-step', it.step);
    dot.appendChild(svg('title', {}, `${it.what}\n${frameText((it.at || [{}])[0] || {})}`));
    s.appendChild(dot);
    s.appendChild(svg('text', {x: it.x - 28, y: it.y - 15 - 11 * (k % 2), 'font-size': 11,
                               'font-weight': 600}, it.what));
    const top = (it.at || [])[0];
    if (top) s.appendChild(svg('text', {x: it.x - 28, y: it.y + 24, 'font-size': 10,
                                        fill: '#555'}, `line ${top.line}`));
  });
  // the steps of the race in order: between two threads nothing orders them
  const ss = ['check', 'other', 'act'].map(st => its.find(i => i.step === st)).filter(Boolean);
  for (let k = 1; k < ss.length; k++) {
    if (ss[k].lane === ss[k - 1].lane) continue;
    s.appendChild(svg('line', {x1: ss[k - 1].x, y1: ss[k - 1].y, x2: ss[k].x, y2: ss[k].y,
                               stroke: '#c0392b', 'stroke-dasharray': '5,4',
                               class: 'unordered'}));
  }
  const wrap = el('div', {class: 'timeline-wrap'});
  wrap.appendChild(s);
  return wrap;
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
    div.appendChild(el('div', {class: 'meta'}, 'blue arrows: hand-offs (a start, a put ' +
      'to its get, a set to its wait); purple: a thread\'s end to its join; red dashes: ' +
      'steps of two threads that nothing orders; green: a lock held (hover for details)'));
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
