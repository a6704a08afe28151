// The Fleet page: polls /api/v1/fleet and renders every device as text (textContent only: thing names,
// labels and summaries come from devices and are never parsed as HTML). Clicking a row loads that
// device's recent batches from /api/v1/fleet/<thing>.
'use strict';

(function () {
  const POLL_MS = 2000;
  const $ = (id) => document.getElementById(id);
  let selected = null;
  let lastList = null;

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function num(value, unit, digits) {
    if (typeof value !== 'number' || !isFinite(value)) return '—';
    return value.toFixed(digits === undefined ? 0 : digits) + unit;
  }

  function ago(ms, now) {
    if (!ms) return '—';
    const s = Math.max(0, Math.round((now - ms) / 1000));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    if (s < 86400) return Math.floor(s / 3600) + ' h ago';
    return Math.floor(s / 86400) + ' d ago';
  }

  function clock(ms) {
    return ms ? new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }) : '—';
  }

  function span(b) {
    if (typeof b.from !== 'number' || typeof b.to !== 'number') return '—';
    return ((b.to - b.from) / 1000).toFixed(1) + ' s';
  }

  function disk(row) {
    const text = num(row.disk, '%');
    return row.diskMount ? text + ' ' + row.diskMount : text;
  }

  function alertChips(alerts) {
    const box = el('div', null, 'chips');
    for (const a of alerts || []) {
      const chip = el('span', a.alertname || '?', 'chip');
      chip.dataset.severity = a.severity || 'warning';
      chip.title = a.summary || '';
      box.appendChild(chip);
    }
    if (!box.childNodes.length) box.appendChild(el('span', '—', 'muted'));
    return box;
  }

  function statusBadge(status) {
    const badge = el('span', status, 'st');
    badge.dataset.status = status;
    return badge;
  }

  function setConn(state, text) {
    const conn = $('fleet-conn');
    conn.dataset.state = state;
    conn.textContent = text;
  }

  function renderList(doc) {
    lastList = doc;
    $('fleet-off').hidden = !!doc.enabled;
    const filter = $('fleet-filter').value.trim().toLowerCase();
    const now = doc.serverTime;
    const counts = { total: 0, ok: 0, alerting: 0, stale: 0 };
    const body = $('fleet-rows');
    const rows = [];
    for (const d of doc.devices || []) {
      counts.total += 1;
      counts[d.status] = (counts[d.status] || 0) + 1;
      if (filter && String(d.thing).toLowerCase().indexOf(filter) < 0) continue;
      const tr = document.createElement('tr');
      tr.dataset.thing = d.thing;
      tr.dataset.status = d.status;
      tr.tabIndex = 0;
      tr.setAttribute('aria-selected', String(d.thing === selected));
      tr.appendChild(el('td', d.thing, 'thing-cell'));
      const st = el('td');
      st.appendChild(statusBadge(d.status));
      tr.appendChild(st);
      const seen = el('td', ago(d.lastSeen, now));
      seen.title = new Date(d.lastSeen).toISOString();
      tr.appendChild(seen);
      tr.appendChild(el('td', num(d.cpu, '%'), 'num'));
      tr.appendChild(el('td', num(d.mem, '%'), 'num'));
      tr.appendChild(el('td', disk(d), 'num'));
      tr.appendChild(el('td', num(d.temp, ' °C'), 'num'));
      const alerts = el('td');
      alerts.appendChild(alertChips(d.alerts));
      tr.appendChild(alerts);
      rows.push(tr);
    }
    body.replaceChildren(...rows);
    $('fleet-empty').hidden = counts.total > 0;
    for (const key of Object.keys(counts)) $('count-' + key).textContent = String(counts[key]);
    $('stale-after').textContent = 'no batch for ' + doc.staleAfterSeconds + ' s';
    $('fleet-updated').textContent = 'Updated ' + clock(now) + ' · ' + counts.total + ' device(s)';
  }

  function renderDevice(d) {
    $('device-panel').hidden = false;
    $('device-name').textContent = d.thing;
    const status = $('device-status');
    status.textContent = d.status;
    status.className = 'st';
    status.dataset.status = d.status;
    const alerts = $('device-alerts');
    const items = [];
    for (const a of d.alerts || []) {
      const box = el('div', null, 'alert');
      box.dataset.severity = a.severity || 'warning';
      box.dataset.state = 'firing';
      box.appendChild(el('div', a.alertname, 'alertname'));
      box.appendChild(el('div', a.summary, 'muted'));
      items.push(box);
    }
    alerts.replaceChildren(...items);
    const rows = [];
    for (const b of d.recentBatches || []) {
      const tr = document.createElement('tr');
      tr.appendChild(el('td', clock(b.receivedAt)));
      const window_ = el('td', span(b), 'num');
      window_.title = clock(b.from) + ' – ' + clock(b.to);
      tr.appendChild(window_);
      tr.appendChild(el('td', b.mode));
      tr.appendChild(el('td', b.part + '/' + b.parts));
      tr.appendChild(el('td', b.samples === null ? '—' : b.samples, 'num'));
      const v = b.values || {};
      tr.appendChild(el('td', num(v.cpu, '%'), 'num'));
      tr.appendChild(el('td', num(v.mem, '%'), 'num'));
      tr.appendChild(el('td', disk(v), 'num'));
      tr.appendChild(el('td', num(v.temp, ' °C'), 'num'));
      rows.push(tr);
    }
    $('batch-rows').replaceChildren(...rows);
  }

  async function getJson(url) {
    const r = await fetch(url, { credentials: 'same-origin', cache: 'no-store' });
    if (r.status === 401) {
      window.location.assign('/login');
      throw new Error('login required');
    }
    if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
    return r.json();
  }

  async function loadDevice(thing) {
    try {
      renderDevice(await getJson('/api/v1/fleet/' + encodeURIComponent(thing)));
    } catch (err) {
      $('fleet-notice').textContent = String(err.message || err);
    }
  }

  async function poll() {
    try {
      renderList(await getJson('/api/v1/fleet'));
      if (selected) await loadDevice(selected);
      setConn('live', 'live');
      $('fleet-notice').textContent = '';
    } catch (err) {
      setConn('reconnecting', 'reconnecting');
      $('fleet-notice').textContent = String(err.message || err);
    } finally {
      window.setTimeout(poll, POLL_MS);
    }
  }

  function select(thing) {
    selected = thing;
    if (lastList) renderList(lastList);
    loadDevice(thing);
  }

  $('fleet-rows').addEventListener('click', (ev) => {
    const tr = ev.target.closest('tr[data-thing]');
    if (tr) select(tr.dataset.thing);
  });
  $('fleet-rows').addEventListener('keydown', (ev) => {
    const tr = ev.target.closest('tr[data-thing]');
    if (tr && (ev.key === 'Enter' || ev.key === ' ')) {
      ev.preventDefault();
      select(tr.dataset.thing);
    }
  });
  $('device-close').addEventListener('click', () => {
    selected = null;
    $('device-panel').hidden = true;
    if (lastList) renderList(lastList);
  });
  $('fleet-filter').addEventListener('input', () => { if (lastList) renderList(lastList); });
  poll();
})();
