/* EdgeWatch local dashboard: one plain script, no framework, no network beyond its own origin.
 * Every piece of data is written with textContent or as an attribute value, never parsed as HTML.
 * Protocol: components/local-dashboard/PROTOCOL.md (snapshot, then deltas over /ws). */
(() => {
  'use strict';

  const RANGES = { '5m': 300e3, '15m': 900e3, '1h': 3600e3, '6h': 21600e3, '24h': 86400e3 };
  const DEFAULT_RANGE = '5m';
  // Deltas for long ranges are averaged into buckets so a day-long chart stays ~this many points.
  const MAX_POINTS = 1500;
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const RESOLVED_SHOWN = 20;
  const CHART_SERIES_MAX = 12;
  const THRESHOLDS = { cpu: [75, 90], memory: [80, 90], disk: [80, 90], temperature: [70, 85] };
  const SEVERITY_ORDER = { critical: 0, error: 1, warning: 2, info: 3 };
  const PALETTE = ['#3b82f6', '#f59e0b', '#10b981', '#ef4444', '#8b5cf6', '#06b6d4', '#ec4899', '#84cc16',
    '#f97316', '#6366f1', '#14b8a6', '#a855f7'];

  const $ = (sel, root = document) => root.querySelector(sel);

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function store(key, value) {
    try { localStorage.setItem(key, value); } catch (_) { /* private mode: remembering is optional */ }
  }

  function recall(key) {
    try { return localStorage.getItem(key); } catch (_) { return null; }
  }

  // ---------------------------------------------------------------- formatting (pure)

  const numberFormats = [0, 1, 2].map((d) => new Intl.NumberFormat('en-US', { maximumFractionDigits: d, useGrouping: false }));

  /** A number with as many decimals as its size deserves: 1234, 93.4, 1.52. */
  function fmtNum(v, digits = 2) {
    if (v === null || v === undefined || !Number.isFinite(v)) return '—';
    const a = Math.abs(v);
    if (a >= 1e6) return numberFormats[1].format(v / 1e6) + 'M';
    if (a >= 1e4) return numberFormats[1].format(v / 1e3) + 'k';
    return numberFormats[Math.min(digits, a >= 100 ? 0 : a >= 10 ? 1 : 2)].format(v);
  }

  function fmtBytes(v, suffix = '') {
    if (!Number.isFinite(v)) return '—';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let i = 0;
    let x = Math.abs(v);
    while (x >= 1024 && i < units.length - 1) { x /= 1024; i += 1; }
    const s = i === 0 ? String(Math.round(x)) : x.toFixed(x < 10 ? 1 : 0);
    return (v < 0 ? '-' : '') + s + ' ' + units[i] + suffix;
  }

  function fmtDuration(seconds) {
    if (!Number.isFinite(seconds)) return '—';
    let s = Math.max(0, Math.floor(seconds));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    if (d > 0) return `${d}d ${h}h`;
    if (h > 0) return `${h}h ${m}m`;
    if (m > 0) return `${m}m ${s}s`;
    return `${s}s`;
  }

  function fmtValue(v, unit) {
    if (v === null || v === undefined || !Number.isFinite(v)) return '—';
    switch (unit) {
      case '%': return v.toFixed(1) + ' %';
      case 'B': return fmtBytes(v);
      case 'B/s': return fmtBytes(v, '/s');
      case '°C': return v.toFixed(1) + ' °C';
      case 's': return fmtDuration(v);
      case '': case undefined: return fmtNum(v, 2);
      default: return fmtNum(v) + ' ' + unit;
    }
  }

  // Axis labels stay short (the unit is in the chart's caption).
  function fmtAxis(v, unit) {
    if (unit === 'B/s' || unit === 'B') return fmtBytes(v);
    return fmtNum(v, 1) + (unit === '%' ? '%' : '');
  }

  function fmtClock(ms) {
    return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short', hour12: false });
  }

  function level(v, [warn, crit]) {
    if (!Number.isFinite(v)) return null;
    if (v >= crit) return 'crit';
    if (v >= warn) return 'warn';
    return 'ok';
  }

  // ---------------------------------------------------------------- state

  const state = {
    thing: '',
    range: RANGES[recall('edgewatch.range')] ? recall('edgewatch.range') : DEFAULT_RANGE,
    series: new Map(), // key -> {key, name, unit, labels, points: [[ts, v, n?], ...]}
    alerts: [],
    silences: [],
    health: [],
    clockOffset: 0, // serverTime - Date.now(), so relative times follow the gateway's clock
    lastFrameAt: 0,
  };
  const dirty = { series: true, alerts: true, silences: true, health: true };

  const now = () => Date.now() + state.clockOffset;

  function validSeries(s) {
    return s && typeof s.key === 'string' && typeof s.name === 'string' && Array.isArray(s.points);
  }

  function cleanPoints(points) {
    return points.filter((p) => Array.isArray(p) && Number.isFinite(p[0]) && Number.isFinite(p[1]))
      .map((p) => [p[0], p[1]]);
  }

  function applySnapshot(msg) {
    state.series.clear();
    for (const s of msg.series || []) {
      if (!validSeries(s)) continue;
      state.series.set(s.key, {
        key: s.key, name: s.name, unit: s.unit || '', labels: s.labels || {}, points: cleanPoints(s.points),
      });
    }
    if (typeof msg.thing === 'string') state.thing = msg.thing;
    if (typeof msg.range === 'string' && RANGES[msg.range]) state.range = msg.range;
    state.alerts = Array.isArray(msg.alerts) ? msg.alerts : [];
    state.silences = Array.isArray(msg.silences) ? msg.silences : [];
    state.health = Array.isArray(msg.health) ? msg.health : [];
    Object.keys(dirty).forEach((k) => { dirty[k] = true; });
  }

  function appendPoint(points, ts, v, bucketMs) {
    const last = points[points.length - 1];
    if (last && ts <= last[0]) return; // a point the snapshot already had
    if (last && last.length === 3 && Math.floor(last[0] / bucketMs) === Math.floor(ts / bucketMs)) {
      const n = last[2];
      last[1] = (last[1] * n + v) / (n + 1);
      last[0] = ts;
      last[2] = n + 1;
      return;
    }
    points.push([ts, v, 1]);
  }

  function applyDelta(msg) {
    const bucketMs = RANGES[state.range] / MAX_POINTS;
    for (const s of msg.series || []) {
      if (!validSeries(s)) continue;
      let cur = state.series.get(s.key);
      if (!cur) {
        cur = { key: s.key, name: s.name, unit: s.unit || '', labels: s.labels || {}, points: [] };
        state.series.set(s.key, cur);
      }
      for (const p of cleanPoints(s.points)) appendPoint(cur.points, p[0], p[1], bucketMs);
      dirty.series = true;
    }
    if (Array.isArray(msg.alerts)) { state.alerts = msg.alerts; dirty.alerts = true; }
    if (Array.isArray(msg.silences)) { state.silences = msg.silences; dirty.silences = true; }
    if (Array.isArray(msg.health)) { state.health = msg.health; dirty.health = true; }
    // Here and not only when drawing: a hidden tab draws nothing but must not hoard points all day.
    trimSeries();
  }

  function trimSeries() {
    const cutoff = now() - RANGES[state.range];
    for (const [key, s] of state.series) {
      let i = 0;
      while (i < s.points.length && s.points[i][0] < cutoff) i += 1;
      if (i > 0) s.points.splice(0, i);
      if (s.points.length === 0) state.series.delete(key);
    }
  }

  /** The latest point of every series named `name` (optionally filtered by labels). */
  function latest(name, pred) {
    const out = [];
    for (const s of state.series.values()) {
      if (s.name !== name || s.points.length === 0 || (pred && !pred(s.labels))) continue;
      const p = s.points[s.points.length - 1];
      out.push({ labels: s.labels, value: p[1], ts: p[0], unit: s.unit });
    }
    return out;
  }

  function latestOne(name, pred) {
    const all = latest(name, pred);
    return all.length ? all[0].value : NaN;
  }

  // ---------------------------------------------------------------- tiles

  const diskTiles = new Map(); // mount -> tile element

  function setTile(tile, value, sub, lvl, meterPct) {
    $('.value', tile).textContent = value;
    $('.sub', tile).textContent = sub;
    tile.classList.remove('ok', 'warn', 'crit');
    if (lvl) tile.classList.add(lvl);
    let meter = $('.meter > span', tile);
    if (meterPct === undefined) {
      if (meter) meter.parentElement.remove();
      return;
    }
    if (!meter) {
      const m = el('div', 'meter');
      meter = el('span');
      m.append(meter);
      tile.append(m);
    }
    // CSSOM style (allowed by the CSP), not a style attribute.
    meter.style.width = Math.max(0, Math.min(100, meterPct)).toFixed(1) + '%';
  }

  function coreCount() {
    return latest('cpu.percent', (l) => l.cpu !== undefined && l.cpu !== 'total').length;
  }

  function isLoopback(iface) {
    return iface === 'lo' || /^lo\d*$/.test(iface);
  }

  function renderTiles() {
    const tiles = $('#tiles');
    const cores = coreCount();

    const cpu = latestOne('cpu.percent', (l) => l.cpu === 'total');
    const perCore = latest('cpu.percent', (l) => l.cpu !== 'total').map((p) => p.value);
    const hottest = perCore.length ? Math.max(...perCore) : NaN;
    setTile($('[data-tile="cpu"]'), fmtValue(cpu, '%'),
      cores ? `${cores} cores · busiest ${fmtValue(hottest, '%')}` : '', level(cpu, THRESHOLDS.cpu),
      Number.isFinite(cpu) ? cpu : undefined);

    const mem = latestOne('memory.percent');
    const used = latestOne('memory.used');
    const total = latestOne('memory.total');
    const swap = latestOne('swap.percent');
    let memSub = Number.isFinite(used) && Number.isFinite(total) ? `${fmtBytes(used)} of ${fmtBytes(total)}` : '';
    if (Number.isFinite(swap)) memSub += `${memSub ? ' · ' : ''}swap ${swap.toFixed(0)} %`;
    setTile($('[data-tile="memory"]'), fmtValue(mem, '%'), memSub, level(mem, THRESHOLDS.memory),
      Number.isFinite(mem) ? mem : undefined);

    const l1 = latestOne('load.1m');
    const l5 = latestOne('load.5m');
    const l15 = latestOne('load.15m');
    const perCoreLoad = l1 / Math.max(1, cores);
    setTile($('[data-tile="load"]'), fmtNum(l1, 2),
      Number.isFinite(l5) ? `5m ${fmtNum(l5, 2)} · 15m ${fmtNum(l15, 2)}${cores ? ` · ${cores} cores` : ''}` : '',
      level(perCoreLoad, [1, 2]));

    const notLo = (l) => !isLoopback(l.interface || '');
    const rx = latest('net.bytes_recv', notLo);
    const tx = latest('net.bytes_sent', notLo);
    const errs = [...latest('net.errors_in', notLo), ...latest('net.errors_out', notLo)]
      .reduce((a, p) => a + p.value, 0);
    const rxSum = rx.reduce((a, p) => a + p.value, 0);
    const txSum = tx.reduce((a, p) => a + p.value, 0);
    if (rx.length || tx.length) {
      const ifaces = new Set([...rx, ...tx].map((p) => p.labels.interface)).size;
      setTile($('[data-tile="net"]'), fmtBytes(rxSum + txSum, '/s'),
        `↓ ${fmtBytes(rxSum, '/s')} · ↑ ${fmtBytes(txSum, '/s')} · ${ifaces} interface${ifaces === 1 ? '' : 's'}${errs > 0 ? ` · ${fmtNum(errs)} err/s` : ''}`,
        errs > 0 ? 'warn' : 'ok');
    } else {
      setTile($('[data-tile="net"]'), '—', '', null);
    }

    const temps = latest('temperature.current');
    if (temps.length) {
      const top = temps.reduce((a, b) => (b.value > a.value ? b : a));
      setTile($('[data-tile="temperature"]'), fmtValue(top.value, '°C'),
        `${top.labels.label || top.labels.sensor || 'sensor'}${temps.length > 1 ? ` · ${temps.length} sensors` : ''}`,
        level(top.value, THRESHOLDS.temperature));
    } else {
      setTile($('[data-tile="temperature"]'), '—', 'no sensor', null);
    }

    const up = latestOne('system.uptime');
    const boot = latestOne('system.boot_time');
    setTile($('[data-tile="uptime"]'), fmtDuration(up),
      Number.isFinite(boot) ? `since ${fmtClock(boot * 1000)}` : '', Number.isFinite(up) ? (up < 600 ? 'warn' : 'ok') : null);

    // One tile per mounted disk, in mount order; tiles of mounts that vanished are removed.
    const disks = latest('disk.percent').filter((p) => typeof p.labels.mount === 'string')
      .sort((a, b) => a.labels.mount.localeCompare(b.labels.mount));
    const seen = new Set();
    for (const d of disks) {
      const mount = d.labels.mount;
      seen.add(mount);
      let tile = diskTiles.get(mount);
      if (!tile) {
        tile = el('div', 'tile disk');
        tile.dataset.tile = `disk:${mount}`;
        tile.append(el('div', 't-name', `Disk ${mount}`), el('div', 'value'), el('div', 'sub'));
        diskTiles.set(mount, tile);
      }
      tiles.append(tile); // re-appending keeps the sorted order
      const byMount = (l) => l.mount === mount;
      const dUsed = latestOne('disk.used', byMount);
      const dTotal = latestOne('disk.total', byMount);
      const sub = Number.isFinite(dUsed) && Number.isFinite(dTotal) ? `${fmtBytes(dUsed)} of ${fmtBytes(dTotal)}` : '';
      setTile(tile, fmtValue(d.value, '%'), sub + (d.labels.fstype ? ` · ${d.labels.fstype}` : ''),
        level(d.value, THRESHOLDS.disk), d.value);
    }
    for (const [mount, tile] of diskTiles) {
      if (!seen.has(mount)) { tile.remove(); diskTiles.delete(mount); }
    }
  }

  // ---------------------------------------------------------------- top processes

  /** The newest sample's ranking (older samples' pids linger in history until they age out). */
  function topOf(name) {
    const all = latest(name, (l) => l.rank !== undefined);
    if (!all.length) return [];
    const newest = Math.max(...all.map((p) => p.ts));
    return all.filter((p) => p.ts === newest).sort((a, b) => Number(a.labels.rank) - Number(b.labels.rank)).slice(0, 10);
  }

  function processRow(p, unit) {
    const row = el('li', 'process');
    row.dataset.pid = String(p.labels.pid || '');
    const name = el('span', 'p-name', p.labels.process || '?');
    name.title = `pid ${p.labels.pid || '?'}`;
    row.append(name, el('span', 'p-pid', p.labels.pid || ''), el('span', 'p-value', fmtValue(p.value, unit)));
    return row;
  }

  function renderProcesses() {
    const cpu = topOf('process.cpu_percent');
    const mem = topOf('process.memory_rss');
    $('#processes-card').hidden = cpu.length === 0 && mem.length === 0;
    $('#top-cpu').replaceChildren(...cpu.map((p) => processRow(p, '%')));
    $('#top-mem').replaceChildren(...mem.map((p) => processRow(p, 'B')));
    const count = latestOne('system.process_count');
    $('#process-count').textContent = Number.isFinite(count) ? String(Math.round(count)) : '';
  }

  // ---------------------------------------------------------------- charts

  const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  const byNumericLabel = (name) => (a, b) => {
    const x = Number(a.labels[name]);
    const y = Number(b.labels[name]);
    return Number.isFinite(x) && Number.isFinite(y) ? x - y : cmp(a.labels[name] || '', b.labels[name] || '');
  };
  const ignoredDisk = (dev) => /^(loop|ram|zram|sr|fd)\d+$/.test(dev || '');

  const CHARTS = {
    cpu: {
      unit: '%', min: 0, max: 100,
      select: (s) => s.name === 'cpu.percent',
      label: (s) => (s.labels.cpu === 'total' ? 'total' : `cpu${s.labels.cpu}`),
      sort: (a, b) => (a.labels.cpu === 'total' ? -1 : b.labels.cpu === 'total' ? 1 : byNumericLabel('cpu')(a, b)),
      emphasis: (s) => s.labels.cpu === 'total',
    },
    memory: {
      unit: '%', min: 0, max: 100,
      select: (s) => s.name === 'memory.percent' || s.name === 'swap.percent',
      label: (s) => s.name.split('.')[0],
      sort: (a, b) => cmp(a.name, b.name),
      emphasis: (s) => s.name === 'memory.percent',
    },
    net: {
      unit: 'B/s', min: 0,
      select: (s) => (s.name === 'net.bytes_recv' || s.name === 'net.bytes_sent') && !isLoopback(s.labels.interface || ''),
      label: (s) => `${s.labels.interface} ${s.name === 'net.bytes_recv' ? '↓' : '↑'}`,
      sort: (a, b) => cmp(a.labels.interface || '', b.labels.interface || '') || cmp(a.name, b.name),
    },
    'disk-io': {
      unit: 'B/s', min: 0,
      select: (s) => (s.name === 'diskio.read_bytes' || s.name === 'diskio.write_bytes') && !ignoredDisk(s.labels.device),
      label: (s) => `${s.labels.device} ${s.name === 'diskio.read_bytes' ? 'read' : 'write'}`,
      sort: (a, b) => cmp(a.labels.device || '', b.labels.device || '') || cmp(a.name, b.name),
    },
    load: {
      unit: '', min: 0,
      select: (s) => s.name === 'load.1m' || s.name === 'load.5m' || s.name === 'load.15m',
      label: (s) => s.name.slice(5),
      sort: (a, b) => parseInt(a.name.slice(5), 10) - parseInt(b.name.slice(5), 10),
      emphasis: (s) => s.name === 'load.1m',
    },
    temperature: {
      unit: '°C',
      select: (s) => s.name === 'temperature.current',
      label: (s) => s.labels.label || s.labels.sensor || 'sensor',
      sort: (a, b) => cmp(a.labels.sensor || '', b.labels.sensor || '') || cmp(a.labels.label || '', b.labels.label || ''),
    },
  };

  const charts = new Map(); // chart id -> {plot, signature, el}

  function cssVar(name, fallback) {
    const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return v || fallback;
  }

  function chartSeries(def) {
    let list = [...state.series.values()].filter((s) => def.select(s) && s.points.length > 0);
    if (list.length > CHART_SERIES_MAX) {
      // Keep the busiest series: a gateway with dozens of veth or partitions stays readable.
      const weight = (s) => s.points.reduce((a, p) => a + Math.abs(p[1]), 0) / s.points.length;
      list = list.sort((a, b) => weight(b) - weight(a)).slice(0, CHART_SERIES_MAX);
    }
    return list.sort(def.sort);
  }

  /** uPlot wants one shared x array: the union of the series' timestamps, gaps as null. */
  function alignData(list) {
    const xs = new Set();
    for (const s of list) for (const p of s.points) xs.add(p[0]);
    const x = [...xs].sort((a, b) => a - b);
    const index = new Map(x.map((t, i) => [t, i]));
    const ys = list.map((s) => {
      const y = new Array(x.length).fill(null);
      for (const p of s.points) y[index.get(p[0])] = p[1];
      return y;
    });
    return [x.map((t) => t / 1000), ...ys];
  }

  function lastValue(ys) {
    for (let i = ys.length - 1; i >= 0; i -= 1) if (ys[i] !== null) return ys[i];
    return null;
  }

  function makePlot(id, def, list, container) {
    const axis = cssVar('--muted', '#6b7280');
    const grid = cssVar('--grid', 'rgba(128,128,128,0.15)');
    const unit = def.unit;
    const opts = {
      width: Math.max(200, container.clientWidth),
      // A fixed plot height: the container also holds the legend, so its own height is no guide.
      height: window.innerWidth < 600 ? 140 : 170,
      legend: { show: true, live: true },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: {
          time: true,
          range: () => [(now() - RANGES[state.range]) / 1000, now() / 1000],
        },
        y: {
          range: (u, dmin, dmax) => {
            const lo = def.min !== undefined ? Math.min(def.min, dmin) : dmin - Math.abs(dmin) * 0.05;
            let hi = def.max !== undefined ? Math.max(def.max, dmax) : dmax * 1.1;
            if (!(hi > lo)) hi = lo + 1;
            return [lo, hi];
          },
        },
      },
      axes: [
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, space: 70 },
        {
          stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 },
          values: (u, splits) => splits.map((v) => fmtAxis(v, unit)),
          // Room for the widest label, so "977 KiB" is never clipped.
          size: (u, values) => 22 + 8 * Math.max(3, ...(values || []).map((t) => String(t).length)),
        },
      ],
      series: [
        { value: (u, v) => (v === null ? 'latest' : new Date(v * 1000).toLocaleTimeString(undefined, { hour12: false })) },
        ...list.map((s, i) => {
          const strong = def.emphasis ? def.emphasis(s) : false;
          const colour = PALETTE[i % PALETTE.length];
          return {
            label: def.label(s),
            stroke: colour,
            width: strong ? 2 : 1.25,
            fill: strong ? colour + '1f' : undefined,
            spanGaps: true,
            points: { show: false },
            // Off the chart the legend shows each series' latest value; under the cursor, that point's.
            value: (u, v, si, idx) => fmtValue(v === null && idx === null ? lastValue(u.data[si]) : v, unit),
          };
        }),
      ],
    };
    // uPlot is loaded by its own <script defer> before this one.
    return new window.uPlot(opts, alignData(list), container);
  }

  function renderCharts() {
    for (const [id, def] of Object.entries(CHARTS)) {
      const container = $(`.chart[data-chart="${id}"]`);
      if (!container) continue;
      const list = chartSeries(def);
      const signature = list.map((s) => s.key).join('\n');
      const cur = charts.get(id);
      if (list.length === 0) {
        if (cur) { cur.plot.destroy(); charts.delete(id); }
        container.classList.add('no-data');
        continue;
      }
      container.classList.remove('no-data');
      if (cur && cur.signature === signature) {
        cur.plot.setData(alignData(list));
        continue;
      }
      if (cur) cur.plot.destroy();
      charts.set(id, { plot: makePlot(id, def, list, container), signature });
    }
  }

  function rebuildCharts() {
    for (const c of charts.values()) c.plot.destroy();
    charts.clear();
    dirty.series = true;
    schedule();
  }

  const resizer = typeof ResizeObserver === 'function' ? new ResizeObserver((entries) => {
    for (const entry of entries) {
      const id = entry.target.dataset.chart;
      const c = charts.get(id);
      if (c) {
        const w = Math.max(200, Math.floor(entry.contentRect.width));
        if (w !== c.plot.width) c.plot.setSize({ width: w, height: c.plot.height });
      }
    }
  }) : null;

  // ---------------------------------------------------------------- alerts

  function labelChips(labels, skip) {
    const box = el('div', 'labels');
    for (const name of Object.keys(labels || {}).sort()) {
      if (skip && skip.has(name)) continue;
      box.append(el('span', 'label', `${name}=${labels[name]}`), document.createTextNode(' '));
    }
    return box;
  }

  function sinceText(a) {
    if (a.state === 'resolved') {
      const end = Number.isFinite(a.endsAt) ? a.endsAt : now();
      return `resolved ${fmtDuration((now() - end) / 1000)} ago · lasted ${fmtDuration((end - a.startsAt) / 1000)}`;
    }
    return `${a.state === 'pending' ? 'pending for' : 'for'} ${fmtDuration((now() - a.startsAt) / 1000)}`;
  }

  function alertRow(a) {
    const row = el('div', 'alert');
    row.dataset.alertId = String(a.id);
    row.dataset.state = String(a.state);
    const sev = String(a.severity || 'none');
    row.dataset.severity = sev;
    if (a.silenced) row.classList.add('silenced');

    const head = el('div', 'a-head');
    head.append(el('span', 'severity', sev), el('span', 'alertname', a.alertname));
    if (a.state !== 'firing') head.append(el('span', 'badge state', a.state));
    if (a.silenced) head.append(el('span', 'badge muted', 'silenced'));
    head.append(el('span', 'value', Number.isFinite(a.value) ? fmtNum(a.value, 2) : '—'));
    row.append(head);
    if (a.summary) row.append(el('div', 'summary', a.summary));
    row.append(labelChips(a.labels, new Set(['alertname'])));

    const foot = el('div', 'a-foot');
    const since = el('span', 'since', sinceText(a));
    if (Number.isFinite(a.startsAt)) since.title = `since ${fmtClock(a.startsAt)}`;
    foot.append(since);
    if (a.state !== 'resolved') {
      const btn = el('button', 'ghost small silence-btn', a.silenced ? 'Silence again' : 'Silence');
      btn.type = 'button';
      btn.addEventListener('click', () => openSilenceForm(a));
      foot.append(btn);
    }
    row.append(foot);
    return row;
  }

  function alertOrder(a, b) {
    const st = (x) => (x.state === 'firing' ? 0 : 1);
    const sv = (x) => (SEVERITY_ORDER[x.severity] !== undefined ? SEVERITY_ORDER[x.severity] : 9);
    return st(a) - st(b) || sv(a) - sv(b) || (b.startsAt || 0) - (a.startsAt || 0);
  }

  function renderAlerts() {
    const valid = state.alerts.filter((a) => a && typeof a === 'object' && a.id !== undefined);
    const active = valid.filter((a) => a.state === 'firing' || a.state === 'pending').sort(alertOrder);
    const resolved = valid.filter((a) => a.state === 'resolved')
      .sort((a, b) => (b.endsAt || 0) - (a.endsAt || 0)).slice(0, RESOLVED_SHOWN);
    $('#alerts').replaceChildren(...active.map(alertRow));
    $('#resolved').replaceChildren(...resolved.map(alertRow));
    $('#alerts-count').textContent = String(active.length);
    $('#resolved-count').textContent = String(resolved.length);
    $('#alerts-empty').hidden = active.length > 0;
    const firing = active.filter((a) => a.state === 'firing' && !a.silenced);
    const worst = firing.length ? firing.slice().sort(alertOrder)[0].severity : '';
    $('#alerts-count').dataset.severity = worst || (active.length ? 'pending' : 'none');
    document.title = firing.length ? `(${firing.length}) EdgeWatch ${state.thing}` : `EdgeWatch ${state.thing}`;
  }

  function refreshRelativeTimes() {
    const byId = new Map(state.alerts.map((a) => [String(a.id), a]));
    for (const row of document.querySelectorAll('.alert[data-alert-id]')) {
      const a = byId.get(row.dataset.alertId);
      const since = $('.since', row);
      if (a && since) since.textContent = sinceText(a);
    }
    for (const row of document.querySelectorAll('.silence[data-silence-id]')) {
      const s = state.silences.find((x) => String(x.id) === row.dataset.silenceId);
      const until = $('.until', row);
      if (s && until) until.textContent = silenceUntil(s);
    }
    for (const row of document.querySelectorAll('.health[data-component]')) {
      const h = state.health.find((x) => x.component === row.dataset.component);
      const ago = $('.h-ago', row);
      if (h && ago) ago.textContent = healthAgo(h);
    }
    const updated = $('#updated');
    if (state.lastFrameAt) updated.textContent = `Last update ${fmtDuration((Date.now() - state.lastFrameAt) / 1000)} ago`;
  }

  // ---------------------------------------------------------------- silences

  function matcherText(m) {
    if (typeof m === 'string') return m;
    return `${m.name}${m.op || '='}${m.value}`;
  }

  function silenceUntil(s) {
    if (s.state === 'pending') return `starts in ${fmtDuration((s.startsAt - now()) / 1000)}`;
    if (s.state === 'expired') return 'expired';
    return `ends in ${fmtDuration((s.endsAt - now()) / 1000)}`;
  }

  function silenceRow(s) {
    const row = el('div', 'silence');
    row.dataset.silenceId = String(s.id);
    row.dataset.state = String(s.state);
    const ms = el('div', 'matchers-text');
    for (const m of s.matchers || []) ms.append(el('span', 'label', matcherText(m)), document.createTextNode(' '));
    const meta = el('div', 's-meta');
    const until = el('span', 'until', silenceUntil(s));
    if (Number.isFinite(s.endsAt)) until.title = `until ${fmtClock(s.endsAt)}`;
    meta.append(until, el('span', 'author', s.author ? `by ${s.author}` : ''));
    const comment = el('div', 'comment', s.comment || '');
    const btn = el('button', 'ghost small expire-btn', 'Expire');
    btn.type = 'button';
    btn.addEventListener('click', () => expireSilence(s.id, btn));
    const foot = el('div', 's-foot');
    foot.append(meta, btn);
    row.append(ms, comment, foot);
    return row;
  }

  function renderSilences() {
    const shown = state.silences.filter((s) => s && s.id !== undefined && s.state !== 'expired')
      .sort((a, b) => (a.endsAt || 0) - (b.endsAt || 0));
    $('#silences').replaceChildren(...shown.map(silenceRow));
    $('#silences-count').textContent = String(shown.length);
    $('#silences-empty').hidden = shown.length > 0;
  }

  function addMatcherRow(name = '', op = '=', value = '') {
    const frag = $('#matcher-row').content.cloneNode(true);
    const row = $('.matcher', frag);
    $('.m-name', row).value = name;
    $('.m-op', row).value = op;
    $('.m-value', row).value = value;
    $('.m-remove', row).addEventListener('click', () => row.remove());
    $('#matchers').append(row);
    return row;
  }

  function openSilenceForm(alert) {
    $('#matchers').replaceChildren();
    $('#silence-error').textContent = '';
    if (alert) {
      addMatcherRow('alertname', '=', String(alert.alertname));
      const labels = alert.labels || {};
      for (const name of Object.keys(labels).sort()) {
        if (name !== 'alertname') addMatcherRow(name, '=', String(labels[name]));
      }
      $('#silence-title').textContent = `Silence ${alert.alertname}`;
    } else {
      addMatcherRow();
      $('#silence-title').textContent = 'New silence';
    }
    $('#silence-author').value = recall('edgewatch.author') || '';
    $('#silence-comment').value = '';
    $('#silence-submit').disabled = false;
    const dialog = $('#silence-dialog');
    if (!dialog.open) dialog.showModal();
    ($('#silence-author').value ? $('#silence-comment') : $('#silence-author')).focus();
  }

  function readSilenceForm() {
    const errors = [];
    const matchers = [];
    document.querySelectorAll('#matchers .matcher').forEach((row, i) => {
      const name = $('.m-name', row).value.trim();
      const op = $('.m-op', row).value;
      const value = $('.m-value', row).value;
      if (!name && !value) return;
      if (!name) errors.push(`matcher ${i + 1}: give the label name`);
      if ((op === '=~' || op === '!~')) {
        try { new RegExp(value); } catch (_) { errors.push(`matcher ${i + 1}: "${value}" is not a valid regular expression`); }
      }
      matchers.push({ name, op, value });
    });
    if (matchers.length === 0) errors.push('add at least one matcher');
    const minutes = Number($('#silence-duration').value);
    // The server's bounds: 1 minute to 30 days.
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 43200) errors.push('duration: whole minutes from 1 to 43200 (30 days)');
    const author = $('#silence-author').value.trim();
    const comment = $('#silence-comment').value.trim();
    if (!author) errors.push('author: who is silencing?');
    if (!comment) errors.push('comment: say why');
    return { errors, body: { matchers, durationSeconds: minutes * 60, author, comment } };
  }

  async function apiError(resp) {
    try {
      const j = await resp.json();
      if (j && typeof j.error === 'string') return j.error;
    } catch (_) { /* not JSON */ }
    return `${resp.status} ${resp.statusText}`;
  }

  async function submitSilence(ev) {
    ev.preventDefault();
    const { errors, body } = readSilenceForm();
    const errBox = $('#silence-error');
    if (errors.length) { errBox.textContent = errors.join('; '); return; }
    const submit = $('#silence-submit');
    submit.disabled = true;
    errBox.textContent = '';
    try {
      const resp = await fetch('/api/v1/silences', {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      });
      if (resp.status === 401) { location.assign('/login'); return; }
      if (!resp.ok) { errBox.textContent = `Not created: ${await apiError(resp)}`; return; }
      const created = await resp.json();
      store('edgewatch.author', body.author);
      if (created && created.id !== undefined && !state.silences.some((s) => s.id === created.id)) {
        state.silences = [...state.silences, created];
        dirty.silences = true;
        schedule();
      }
      $('#silence-dialog').close();
    } catch (e) {
      errBox.textContent = `Not created: ${e && e.message ? e.message : 'network error'}`;
    } finally {
      submit.disabled = false;
    }
  }

  async function expireSilence(id, btn) {
    btn.disabled = true;
    try {
      const resp = await fetch(`/api/v1/silences/${encodeURIComponent(id)}`, { method: 'DELETE', credentials: 'same-origin' });
      if (resp.status === 401) { location.assign('/login'); return; }
      if (!resp.ok) { notice(`Silence not expired: ${await apiError(resp)}`); btn.disabled = false; return; }
      state.silences = state.silences.map((s) => (s.id === id ? { ...s, state: 'expired' } : s));
      dirty.silences = true;
      schedule();
    } catch (e) {
      notice('Silence not expired: network error');
      btn.disabled = false;
    }
  }

  // ---------------------------------------------------------------- health

  function healthAgo(h) {
    return Number.isFinite(h.ts) ? `${fmtDuration((now() - h.ts) / 1000)} ago` : 'never';
  }

  function renderHealth() {
    const rows = state.health.filter((h) => h && typeof h.component === 'string')
      .sort((a, b) => cmp(a.component, b.component))
      .map((h) => {
        const row = el('div', 'health');
        row.dataset.component = h.component;
        row.dataset.status = String(h.status);
        const name = el('span', 'h-name', h.component.replace(/^com\.edgewatch\./, ''));
        name.title = h.component;
        const top = el('div', 'h-top');
        top.append(el('span', 'dot'), name, el('span', 'h-status', h.status), el('span', 'h-ago', healthAgo(h)));
        row.append(top);
        const reasons = Array.isArray(h.reasons) ? h.reasons : [];
        if (reasons.length) {
          const ul = el('ul', 'h-reasons');
          for (const r of reasons) ul.append(el('li', '', r));
          row.append(ul);
        }
        return row;
      });
    $('#health').replaceChildren(...rows);
    $('#health-empty').hidden = rows.length > 0;
  }

  // ---------------------------------------------------------------- render loop

  let scheduled = false;

  /** One panel failing on odd data must not blank the others: each keeps its last good rendering. */
  function guarded(what, fn) {
    try {
      fn();
    } catch (e) {
      console.error(`dashboard: rendering ${what} failed:`, e);
    }
  }

  function render() {
    scheduled = false;
    $('#thing').textContent = state.thing || '—';
    if (dirty.series) {
      dirty.series = false;
      guarded('series', trimSeries);
      guarded('tiles', renderTiles);
      guarded('processes', renderProcesses);
      guarded('charts', renderCharts);
    }
    if (dirty.alerts) { dirty.alerts = false; guarded('alerts', renderAlerts); }
    if (dirty.silences) { dirty.silences = false; guarded('silences', renderSilences); }
    if (dirty.health) { dirty.health = false; guarded('health', renderHealth); }
    guarded('times', refreshRelativeTimes);
  }

  function schedule() {
    if (scheduled) return;
    scheduled = true;
    // A hidden tab gets no animation frames; render then on the next visible frame instead.
    requestAnimationFrame(render);
  }

  let noticeTimer = 0;
  function notice(text) {
    const n = $('#notice');
    n.textContent = text;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { n.textContent = ''; }, 8000);
  }

  // ---------------------------------------------------------------- connection

  let socket = null;
  let backoff = BACKOFF_MIN_MS;
  let failures = 0;
  let reconnectTimer = 0;

  function setConn(live) {
    const c = $('#conn');
    c.dataset.state = live ? 'live' : 'reconnecting';
    c.textContent = live ? 'live' : 'reconnecting';
  }

  function onFrame(ev) {
    let msg;
    try { msg = JSON.parse(ev.data); } catch (_) { msg = null; }
    if (!msg || typeof msg !== 'object') {
      console.warn('dashboard: ignored a WebSocket frame that is not a JSON object');
      return;
    }
    if (Number.isFinite(msg.serverTime)) state.clockOffset = msg.serverTime - Date.now();
    state.lastFrameAt = Date.now();
    if (msg.type === 'snapshot') {
      applySnapshot(msg);
      markRange(state.range);
      setConn(true);
      backoff = BACKOFF_MIN_MS;
      failures = 0;
    } else if (msg.type === 'delta') {
      applyDelta(msg);
    } else {
      return;
    }
    schedule();
  }

  async function sessionGone() {
    try {
      const resp = await fetch('/api/v1/info', { credentials: 'same-origin', cache: 'no-store' });
      return resp.status === 401;
    } catch (_) {
      return false; // the gateway is unreachable: keep retrying
    }
  }

  function scheduleReconnect() {
    clearTimeout(reconnectTimer);
    // Full jitter keeps many pages that lost one gateway from reconnecting in lockstep.
    const delay = backoff / 2 + Math.random() * (backoff / 2);
    backoff = Math.min(BACKOFF_MAX_MS, backoff * 2);
    reconnectTimer = setTimeout(connect, delay);
  }

  function connect() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws;
    try {
      // The first snapshot is already for the chosen range (PROTOCOL.md: /ws?range=).
      ws = new WebSocket(`${proto}//${location.host}/ws?range=${encodeURIComponent(state.range)}`);
    } catch (_) {
      scheduleReconnect();
      return;
    }
    socket = ws;
    ws.addEventListener('message', onFrame);
    ws.addEventListener('close', async () => {
      if (socket !== ws) return;
      socket = null;
      setConn(false);
      failures += 1;
      // A refused upgrade looks like any other drop; ask the API whether the session expired.
      if (failures >= 2 && await sessionGone()) { location.assign('/login'); return; }
      scheduleReconnect();
    });
  }

  function markRange(range) {
    document.querySelectorAll('button[data-range]').forEach((b) => {
      b.setAttribute('aria-pressed', b.dataset.range === range ? 'true' : 'false');
    });
  }

  function chooseRange(range) {
    if (!RANGES[range]) return;
    state.range = range;
    store('edgewatch.range', range);
    markRange(range);
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: 'range', range }));
  }

  // ---------------------------------------------------------------- start

  function startDashboard() {
    markRange(state.range);
    document.querySelectorAll('button[data-range]').forEach((b) => {
      b.addEventListener('click', () => chooseRange(b.dataset.range));
    });
    $('#silence-form').addEventListener('submit', submitSilence);
    $('#silence-cancel').addEventListener('click', () => $('#silence-dialog').close());
    $('#add-matcher').addEventListener('click', () => addMatcherRow().querySelector('.m-name').focus());
    $('#new-silence').addEventListener('click', () => openSilenceForm(null));
    if (resizer) document.querySelectorAll('.chart[data-chart]').forEach((c) => resizer.observe(c));
    const dark = window.matchMedia ? window.matchMedia('(prefers-color-scheme: dark)') : null;
    if (dark && dark.addEventListener) dark.addEventListener('change', rebuildCharts);
    document.addEventListener('visibilitychange', () => { if (!document.hidden) { dirty.series = true; schedule(); } });
    // Relative times ("for 5m") and the chart's moving window advance even when no frame arrives.
    setInterval(() => { dirty.series = true; schedule(); }, 5000);
    setInterval(() => guarded('times', refreshRelativeTimes), 1000);
    fetch('/api/v1/info', { credentials: 'same-origin', cache: 'no-store' }).then((resp) => {
      if (resp.status === 401) { location.assign('/login'); return null; }
      return resp.ok ? resp.json() : null;
    }).then((info) => {
      if (!info) return;
      if (typeof info.thing === 'string' && !state.thing) { state.thing = info.thing; schedule(); }
      if (Array.isArray(info.ranges)) {
        document.querySelectorAll('button[data-range]').forEach((b) => { b.hidden = !info.ranges.includes(b.dataset.range); });
      }
    }).catch(() => { /* the WebSocket's reconnect loop reports the outage */ });
    schedule();
    connect();
  }

  function startLogin() {
    const errBox = $('#login-error');
    const err = new URLSearchParams(location.search).get('error');
    if (err !== null) errBox.textContent = err === 'expired' ? 'Session expired: log in again' : 'Wrong password';
    const form = $('#login-form');
    // With script the form posts through fetch, so a lockout (429) reads as a sentence instead of a
    // bare error page; without script it still posts as a plain form.
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const button = $('#login-submit');
      button.disabled = true;
      errBox.textContent = '';
      try {
        const resp = await fetch('/login', {
          method: 'POST', credentials: 'same-origin', body: new URLSearchParams(new FormData(form)),
        });
        const landed = new URL(resp.url);
        if (resp.status === 429) {
          const wait = Number(resp.headers.get('Retry-After'));
          errBox.textContent = `Too many failed attempts: try again in ${Number.isFinite(wait) ? fmtDuration(wait) : 'a while'}`;
        } else if (resp.ok && resp.redirected && landed.pathname === '/') {
          if (resp.body) resp.body.cancel().catch(() => {}); // the page loads for real just below
          location.assign('/');
          return;
        } else if (resp.ok && landed.pathname === '/login') {
          errBox.textContent = 'Wrong password';
          $('#password').select();
        } else {
          errBox.textContent = `Login failed: ${await apiError(resp)}`;
        }
      } catch (_) {
        errBox.textContent = 'The gateway did not answer: try again';
      }
      button.disabled = false;
    });
  }

  if (document.body.dataset.page === 'dashboard') startDashboard();
  else if (document.body.dataset.page === 'login') startLogin();
})();
