// petreld's web page: the host's VMs (state, vCPUs, memory, uptime, CPU share, a sparkline,
// a thumbnail of the screen),
// a VM's details (live charts, actions, console, definition, disks, NICs, snapshots,
// migration/replication status, events), the host's networks (networks.js), its images and the
// "New VM" form (images.js), the backup jobs (backups.js), a login form. Views are built from petreld's API
// and kept current by its event stream and metrics, without reloading the page.
import '@xterm/xterm/css/xterm.css';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { ApiError, api, followEvents, login, logout, session, vmPath } from './api.js';
import { VmCharts, sparkline } from './charts.js';
import { VmConsole } from './console.js';
import { append, ask, clear, fmtBytes, fmtDuration, h, toast } from './dom.js';
import { Metrics, POLL_MS } from './metrics.js';
import { renderImages, renderNewVm } from './images.js';
import { renderNetworks } from './networks.js';
import { renderBackups } from './backups.js';

const state = { session: null, host: null, vms: new Map(), metrics: null, view: null, events: [] };
const main = () => document.getElementById('main');
const isAdmin = () => state.session && state.session.role === 'admin';

// ---- actions -------------------------------------------------------------------------------

const DESTRUCTIVE = {
  shutdown: 'The guest is asked to shut down (Ctrl-Alt-Del), then killed if it has not after the timeout.',
  destroy: 'The VM is killed at once, as a power cut: what the guest had not written is lost.',
  reboot: 'The guest is shut down and started again.',
  undefine: 'The definition is removed (its disks and snapshots stay on the host).',
};

async function act(name, verb) {
  if (DESTRUCTIVE[verb]) {
    const ok = await ask(`${verb[0].toUpperCase()}${verb.slice(1)} ${name}?`, DESTRUCTIVE[verb], [], { confirm: verb, danger: true });
    if (!ok) return;
  }
  try {
    if (verb === 'undefine') {
      await api('DELETE', vmPath(name));
      location.hash = '#/';
    } else {
      await api('POST', vmPath(name, verb));
    }
    toast(`${name}: ${verb} done`);
  } catch (e) {
    toast(`${name}: ${verb} failed: ${e.message}`, true);
  }
  await refreshVms();
}

async function snapshotAction(name) {
  const v = await ask(`Snapshot of ${name}`, 'The VM is paused while its memory and devices are saved, then resumed.',
    [{ name: 'name', label: 'Snapshot name', value: `snap-${new Date().toISOString().slice(0, 19).replace(/[T:]/g, '-')}` }], { confirm: 'Create' });
  if (!v) return;
  try {
    await api('POST', vmPath(name, 'snapshots'), { name: v.name });
    toast(`${name}: snapshot ${v.name} created`);
  } catch (e) { toast(`snapshot failed: ${e.message}`, true); }
  render();
}

async function cloneAction(name) {
  let snaps = [];
  try { snaps = (await api('GET', vmPath(name, 'snapshots'))).map((s) => s.name); } catch { snaps = []; }
  if (!snaps.length) { toast(`${name} has no snapshot to clone from: take one first`, true); return; }
  const v = await ask(`Clone ${name}`, 'New VMs from a snapshot, each on a copy-on-write overlay of the disks.',
    [{ name: 'snapshot', label: 'From snapshot', options: snaps }, { name: 'count', label: 'How many', type: 'number', value: 1 },
      { name: 'prefix', label: 'Name prefix', value: `${name}-clone` }], { confirm: 'Clone' });
  if (!v) return;
  try {
    await api('POST', vmPath(name, 'clone'), { snapshot: v.snapshot, count: Number(v.count), prefix: v.prefix });
    toast(`${name}: ${v.count} clone(s) made`);
  } catch (e) { toast(`clone failed: ${e.message}`, true); }
  await refreshVms();
}

async function migrateAction(name) {
  const v = await ask(`Migrate ${name}`, 'Live migration to another host\'s petreld (TLS). The VM stops running here once it runs there.',
    [{ name: 'to', label: 'To host[:port]', placeholder: 'host2:7443' }], { confirm: 'Migrate', danger: true });
  if (!v || !v.to) return;
  try {
    await api('POST', vmPath(name, 'migrate'), { to: v.to });
    toast(`${name}: migrated to ${v.to}`);
  } catch (e) { toast(`migration failed: ${e.message}`, true); }
  await refreshVms();
}

async function resourcesAction(name) {
  const vm = state.vms.get(name) || {};
  const r = vm.resources || {};
  const mc = vm['machine-config'] || {};
  const running = vm.state === 'running' || vm.state === 'paused';
  const fields = [
    { name: 'cpu_weight', label: 'CPU weight (1–10000)', type: 'number', value: r.cpu_weight ?? '' },
    { name: 'cpu_quota_pct', label: 'CPU quota (% of one CPU)', type: 'number', value: r.cpu_quota_pct ?? '' },
    { name: 'cpuset', label: 'Host CPUs (e.g. 0-1)', value: r.cpuset ?? '' },
    { name: 'memory_limit_mib', label: 'Memory limit (MiB)', type: 'number', value: r.memory_limit_mib ?? '' },
  ];
  if (running) {
    fields.push({ name: 'vcpu_count', label: 'vCPUs (hot-plug)', type: 'number', value: '' });
    fields.push({ name: 'memory_mib', label: 'Memory (MiB, hot-plug/balloon)', type: 'number', value: '' });
  }
  const v = await ask(`Resources of ${name}`, `Now: ${mc.vcpu_count ?? '?'} vCPUs, ${mc.mem_size_mib ?? '?'} MiB.`, fields, { confirm: 'Apply' });
  if (!v) return;
  const res = {};
  for (const k of ['cpu_weight', 'cpu_quota_pct', 'memory_limit_mib']) if (v[k] !== '' && Number(v[k]) !== r[k]) res[k] = Number(v[k]);
  if (v.cpuset !== '' && v.cpuset !== (r.cpuset ?? '')) res.cpuset = v.cpuset;
  try {
    if (Object.keys(res).length) await api('PUT', vmPath(name, 'resources'), res);
    const mach = {};
    if (v.vcpu_count) mach.vcpu_count = Number(v.vcpu_count);
    if (v.memory_mib) mach.memory_mib = Number(v.memory_mib);
    if (Object.keys(mach).length) await api('PATCH', vmPath(name, 'machine'), mach);
    toast(`${name}: resources applied`);
  } catch (e) { toast(`resources failed: ${e.message}`, true); }
  await refreshVms();
}

// The actions a VM in this state allows.
function actionButtons(vm, full) {
  if (!isAdmin()) return h('span', { class: 'muted small' }, 'read-only');
  const s = vm.state;
  const up = s === 'running' || s === 'paused' || s === 'starting';
  const b = (verb, label, fn, cls = '') => h('button', { type: 'button', class: `act ${cls}`, 'data-act': verb, onclick: (e) => { e.stopPropagation(); fn(); } }, label);
  const list = [];
  if (!up) list.push(b('start', 'Start', () => act(vm.name, 'start')));
  if (s === 'running') list.push(b('pause', 'Pause', () => act(vm.name, 'pause')));
  if (s === 'paused') list.push(b('resume', 'Resume', () => act(vm.name, 'resume')));
  if (up) list.push(b('shutdown', 'Shut down', () => act(vm.name, 'shutdown'), 'warn'));
  if (up) list.push(b('destroy', 'Destroy', () => act(vm.name, 'destroy'), 'danger'));
  if (full) {
    if (up) list.push(b('reboot', 'Reboot', () => act(vm.name, 'reboot'), 'warn'));
    if (s === 'running') list.push(b('snapshot', 'Snapshot', () => snapshotAction(vm.name)));
    list.push(b('clone', 'Clone', () => cloneAction(vm.name)));
    if (s === 'running') list.push(b('migrate', 'Migrate', () => migrateAction(vm.name), 'warn'));
    list.push(b('resources', 'Resources', () => resourcesAction(vm.name)));
    if (!up) list.push(b('undefine', 'Undefine', () => act(vm.name, 'undefine'), 'danger'));
  }
  return h('span', { class: 'actions' }, list);
}

// ---- the list ------------------------------------------------------------------------------

const uptime = (vm) => (vm.started_at && (vm.state === 'running' || vm.state === 'paused') ? fmtDuration(Date.now() / 1000 - vm.started_at) : '—');
const memOf = (vm) => (vm['machine-config'] && vm['machine-config'].mem_size_mib != null ? `${vm['machine-config'].mem_size_mib} MiB` : '—');
const vcpusOf = (vm) => (vm['machine-config'] && vm['machine-config'].vcpu_count != null ? String(vm['machine-config'].vcpu_count) : '—');
const stateBadge = (s) => h('span', { class: `state st-${String(s).replace(/\s+/g, '-')}` }, s);

function cpuText(name) {
  const n = state.metrics && state.metrics.now.get(name);
  return n && n.cpu != null ? `${n.cpu.toFixed(1)} %` : '—';
}

// Thumbnails of the running VMs' screens (GET /vms/NAME/screenshot?width=160: petreld reads a
// frame and scales it down, a few ms: docs/display.md#thumbnails-in-the-list), asked again
// every THUMB_MS only while the list is shown and the page visible (an image whose address
// changes before it came is asked for once: the browser drops the older request).
const THUMB_W = 160;
const THUMB_MS = 5000;
const hasScreen = (vm) => vm.display && (vm.state === 'running' || vm.state === 'paused');

const thumbs = new Map();   // VM name -> { url, at (ms) }: kept across the list's rebuilds

// The thumbnail's address, a new one (a new request) once THUMB_MS have passed. A rebuilt list
// gets the same address, which the browser has already (no request). The image keeps showing
// the last one until the next has come.
function thumbSrc(name) {
  const now = Date.now();
  let t = thumbs.get(name);
  if (!t || now - t.at >= THUMB_MS - 500) {
    t = { url: `${vmPath(name, 'screenshot')}?width=${THUMB_W}&t=${now}`, at: now };
    thumbs.set(name, t);
  }
  return t.url;
}

function refreshThumbs() {
  if (document.hidden) return;
  for (const img of document.querySelectorAll('img.thumb')) {
    const u = thumbSrc(img.dataset.vm);
    if (img.getAttribute('src') !== u) img.src = u;
  }
}

function renderList() {
  const el = clear(main());
  const vms = [...state.vms.values()].sort((a, b) => a.name.localeCompare(b.name));
  append(el, h('div', { class: 'listhead' }, h('h1', {}, 'Virtual machines'), h('span', { class: 'muted' }, `${vms.length} defined, ${vms.filter((v) => v.state === 'running').length} running`),
    isAdmin() ? h('a', { href: '#/new', class: 'button', 'data-act': 'new' }, 'New VM') : null));
  if (!vms.length) {
    append(el, h('p', { class: 'muted' }, 'No VM is defined on this host (petrelctl define FILE).'));
    return;
  }
  const rows = vms.map((vm) => {
    const canvas = h('canvas', { width: 120, height: 28, class: 'spark' });
    const tr = h('tr', { class: 'vm', 'data-vm': vm.name, onclick: () => { location.hash = `#/vm/${encodeURIComponent(vm.name)}`; } },
      h('td', { class: 'name', 'data-label': 'Name' }, h('a', { href: `#/vm/${encodeURIComponent(vm.name)}` }, vm.name)),
      h('td', { 'data-label': 'State', class: 'c-state' }, stateBadge(vm.state), vm.operation ? h('span', { class: 'muted small' }, ` ${vm.operation}…`) : null),
      h('td', { 'data-label': 'vCPUs', class: 'c-vcpus' }, vcpusOf(vm)),
      h('td', { 'data-label': 'Memory', class: 'c-mem' }, memOf(vm)),
      h('td', { 'data-label': 'Uptime', class: 'c-uptime' }, uptime(vm)),
      h('td', { 'data-label': 'CPU share', class: 'c-cpu' }, cpuText(vm.name)),
      h('td', { 'data-label': 'CPU', class: 'c-spark' }, canvas),
      h('td', { 'data-label': 'Screen', class: 'c-thumb' }, hasScreen(vm) ? h('img', { class: 'thumb', 'data-vm': vm.name, alt: `${vm.name}'s screen`, width: THUMB_W, hidden: true,
        onload: (e) => { e.target.hidden = false; }, onerror: (e) => { e.target.hidden = true; } }) : null),
      h('td', { class: 'c-actions' }, actionButtons(vm, false)));
    const s = state.metrics && state.metrics.series.get(vm.name);
    if (s) sparkline(canvas, s.cpu);
    return tr;
  });
  append(el, h('table', { class: 'vms' },
    h('thead', {}, h('tr', {}, ['Name', 'State', 'vCPUs', 'Memory', 'Uptime', 'CPU share', 'CPU', 'Screen', ''].map((t) => h('th', {}, t)))),
    h('tbody', {}, rows)));
  if (vms.some(hasScreen)) {
    refreshThumbs();
    state.view.thumbs = setInterval(refreshThumbs, THUMB_MS);
  }
}

function updateListFigures() {
  for (const tr of document.querySelectorAll('tr.vm')) {
    const name = tr.dataset.vm;
    const vm = state.vms.get(name);
    if (!vm) continue;
    tr.querySelector('.c-cpu').textContent = cpuText(name);
    tr.querySelector('.c-uptime').textContent = uptime(vm);
    const s = state.metrics.series.get(name);
    if (s) sparkline(tr.querySelector('canvas.spark'), s.cpu);
  }
}

// ---- a VM's details ------------------------------------------------------------------------

const TABS = ['overview', 'console', 'screen', 'definition', 'devices', 'snapshots', 'events'];

function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.filter(([, v]) => v != null && v !== '').map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function jsonBlock(o) {
  return h('pre', { class: 'json' }, JSON.stringify(o, null, 2));
}

// How the VM boots: a firmware (a UEFI one's variables file) and the disks in its boot order, or a
// kernel petrel loads.
function bootRows(bs, drives) {
  if (!bs.firmware) return [['Kernel', bs.kernel_image_path], ['Initrd', bs.initrd_path], ['Command line', bs.boot_args]];
  const order = drives.filter((d) => d.boot_index != null).sort((a, b) => a.boot_index - b.boot_index).map((d) => d.drive_id);
  return [['Firmware', bs.firmware], ['Variables', bs.firmware_vars_path], ['Boot order', order.length ? order.join(', ') + ', then the rest' : 'the firmware\'s own (every disk)']];
}

// GET /vms/NAME/migration and /replica as a line of text each.
function migrationText(m) {
  if (m.state === 'none') return 'none under way';
  const w = m.worker || {};
  let s = `${m.state}: ${w.state || 'preparing'}`;
  if (w.iteration != null) s += `, pass ${w.iteration}`;
  if (w.bytes_sent != null) s += `, ${fmtBytes(w.bytes_sent)} sent, ${fmtBytes(w.bytes_remaining || 0)} left`;
  if (w.bandwidth_mib_s) s += `, ${w.bandwidth_mib_s.toFixed(1)} MiB/s`;
  if (w.expected_downtime_ms != null) s += `, about ${Math.round(w.expected_downtime_ms)} ms downtime expected`;
  return s;
}

function lastMigrationText(ev) {
  if (!ev) return null;
  const peer = ev.to ? ` to ${ev.to}` : ev.from ? ` from ${ev.from}` : '';
  const when = ev.time ? `, ${new Date(ev.time * 1000).toLocaleString()}` : '';
  const downtime = ev.downtime_ms != null ? ` (downtime ${Number(ev.downtime_ms).toFixed(1)} ms)` : '';
  return `${ev.event}${peer}${when}${downtime}${ev.reason ? `: ${ev.reason}` : ''}`;
}

function replicaText(r) {
  if (!r.role || r.role === 'none') return 'not replicated';
  let s = `${r.role}, ${r.state}`;
  if (r.peer) s += `, peer ${typeof r.peer === 'string' ? r.peer : JSON.stringify(r.peer)}`;
  if (r.generation != null) s += `, generation ${r.generation}`;
  if (r.checkpoints != null) s += `, ${r.checkpoints} checkpoints`;
  if (r.failover_ms != null) s += `, failover in ${r.failover_ms} ms`;
  if (r.reason) s += `: ${r.reason}`;
  return s;
}

async function renderDetail(name, tab) {
  const view = state.view; // a newer render replaces state.view while this one awaits
  const vm = state.vms.get(name);
  const el = clear(main());
  if (!vm) {
    append(el, h('p', {}, 'No VM named ', h('b', {}, name), '. ', h('a', { href: '#/' }, 'Back to the list')));
    return;
  }
  const body = h('section', { class: 'tabbody' });
  append(el,
    h('div', { class: 'detailhead' }, h('a', { href: '#/', class: 'back' }, '‹ All VMs'), h('h1', { class: 'vmname' }, vm.name), stateBadge(vm.state)),
    h('div', { class: 'detailactions' }, actionButtons(vm, true)),
    h('nav', { class: 'tabs' }, TABS.map((t) => h('a', { href: `#/vm/${encodeURIComponent(name)}/${t}`, class: t === tab ? 'tab on' : 'tab', 'data-tab': t }, t))),
    body);
  if (tab === 'overview') {
    const mc = vm['machine-config'] || {};
    append(body, kv([
      ['UUID', vm.uuid], ['vCPUs', vcpusOf(vm)], ['Memory', memOf(vm)], ['Uptime', uptime(vm)],
      ['Host CPU share', cpuText(name)], ['Memory used', state.metrics.now.get(name) ? fmtBytes((state.metrics.now.get(name).mem || 0) * 1048576) : '—'],
      ['Restart policy', vm.restart], ['Autostart', vm.autostart ? 'yes' : 'no'], ['Worker pid', vm.pid],
      ['Restarts', vm.restarts], ['Guest resets', vm.resets], ['SMT', mc.smt != null ? String(mc.smt) : null], ['Resources', vm.resources ? JSON.stringify(vm.resources) : 'defaults'],
    ]));
    const charts = h('div', { class: 'charts' });
    append(body, charts);
    view.charts = new VmCharts(charts);
    view.charts.update(state.metrics.series.get(name));
    const status = h('div', { class: 'hastatus' });
    append(body, h('h2', {}, 'Migration and replication'), status);
    const [mig, rep] = await Promise.all(['migration', 'replica'].map((sub) => api('GET', vmPath(name, sub)).catch((e) => ({ error: e.message }))));
    append(status, kv([
      ['Migration', mig.error || migrationText(mig)],
      ['Last migration', mig.error ? null : lastMigrationText(mig.last)],
      ['Replication', rep.error || replicaText(rep)],
    ]));
  } else if (tab === 'console') {
    const box = h('div', { class: 'term' });
    const st = h('span', { class: 'muted small constatus' }, 'connecting…');
    append(body, h('p', { class: 'muted small' }, isAdmin() ? 'The guest\'s serial console: what you type goes to the guest. ' : 'The guest\'s serial console (read-only). ', st), box);
    view.console = new VmConsole(box, name, { readOnly: !isAdmin(), onStatus: (s) => { st.textContent = s; } });
    view.console.focus();
  } else if (tab === 'screen') {
    // noVNC is loaded when the tab opens (its own chunk): the list and other tabs do without it
    const box = h('div', { class: 'screen' });
    const st = h('span', { class: 'muted small scrstatus' }, 'connecting…');
    const { VmScreen, COMBOS } = await import('./screen.js');
    if (state.view !== view) return;
    const menu = h('select', { class: 'combos', title: 'Send a key combination' },
      h('option', { value: '' }, 'Send keys…'), Object.keys(COMBOS).map((c) => h('option', { value: c }, c)));
    menu.addEventListener('change', () => { if (menu.value && view.screen) view.screen.combo(menu.value); menu.value = ''; view.screen.focus(); });
    const shot = h('a', { class: 'button', href: vmPath(name, 'screenshot'), download: `${name}-screen.png` }, 'Screenshot');
    append(body, h('p', { class: 'muted small' },
      isAdmin() ? 'The VM\'s screen: keys and the mouse go to the guest. ' : 'The VM\'s screen (read-only). ', st, ' ',
      isAdmin() ? menu : null, ' ', shot), box);
    view.screen = new VmScreen(box, name, { readOnly: !isAdmin(), onStatus: (s) => { st.textContent = s; } });
    view.screen.focus();
  } else if (tab === 'definition') {
    try { append(body, jsonBlock(await api('GET', vmPath(name, 'definition')))); } catch (e) { append(body, h('p', { class: 'bad' }, e.message)); }
  } else if (tab === 'devices') {
    let def = {};
    try { def = await api('GET', vmPath(name, 'definition')); } catch (e) { append(body, h('p', { class: 'bad' }, e.message)); }
    const drives = def.drives || [], nics = def['network-interfaces'] || [], bs = def['boot-source'] || {};
    append(body, h('h2', {}, 'Boot'), kv(bootRows(bs, drives)));
    append(body, h('h2', {}, 'Disks'), drives.length ? h('table', { class: 'plain' },
      h('tr', {}, ['id', 'path', 'root', 'read-only', 'cache', 'boot'].map((t) => h('th', {}, t))),
      drives.map((d) => h('tr', {}, [d.drive_id, d.path_on_host, d.is_root_device ? 'yes' : 'no', d.is_read_only ? 'yes' : 'no', d.cache_type || '', d.boot_index ?? ''].map((t) => h('td', {}, t ?? ''))))) : h('p', { class: 'muted' }, 'none'));
    // petreld's view of them (GET /vms/NAME's interfaces): the network, the tap it made, the address
    let ifs = null, gifs = null;
    try { ({ interfaces: ifs, guest_interfaces: gifs } = await api('GET', vmPath(name))); } catch (e) { /* the definition's alone */ }
    const rows = ifs || nics.map((n) => ({ iface_id: n.iface_id, host_dev_name: n.host_dev_name, network: n.network, mac: n.guest_mac }));
    append(body, h('h2', {}, 'Network interfaces'), rows.length ? h('table', { class: 'plain' },
      h('tr', {}, ['id', 'network', 'tap', 'MAC', 'address'].map((t) => h('th', {}, t))),
      rows.map((n) => h('tr', {}, [n.iface_id, n.network || '', n.tap || n.host_dev_name || '', n.mac || '', n.ip || ''].map((t) => h('td', {}, t ?? ''))))) : h('p', { class: 'muted' }, 'none'));
    // what the guest agent says (petreld asks a running VM's agent now and then: guest.c)
    if (def['guest-agent'] && def['guest-agent'].enabled) {
      append(body, h('h2', {}, 'In the guest (its agent)'), gifs && gifs.length ? h('table', { class: 'plain', 'data-guest-ifs': '' },
        h('tr', {}, ['interface', 'MAC', 'addresses'].map((t) => h('th', {}, t))),
        gifs.map((g) => h('tr', {}, [g.name, g.mac || '', (g.addresses || []).map((a) => `${a.address}/${a.prefix}`).join(', ')].map((t) => h('td', {}, t))))) :
        h('p', { class: 'muted' }, vm.state === 'running' ? 'the agent has not answered yet' : 'the VM is not running'));
    }
  } else if (tab === 'snapshots') {
    let snaps = [];
    try { snaps = await api('GET', vmPath(name, 'snapshots')); } catch (e) { append(body, h('p', { class: 'bad' }, e.message)); }
    if (isAdmin() && vm.state === 'running') append(body, h('button', { type: 'button', 'data-act': 'snapshot', onclick: () => snapshotAction(name) }, 'Take a snapshot'));
    append(body, snaps.length ? h('table', { class: 'plain snaps' },
      h('tr', {}, ['name', 'created', 'state', 'consistency', 'memory', ''].map((t) => h('th', {}, t))),
      snaps.map((s) => h('tr', { 'data-snap': s.name }, h('td', {}, s.name), h('td', {}, s.created ? new Date(s.created * 1000).toLocaleString() : ''),
        h('td', {}, s.vm_state || ''),
        h('td', {}, s.consistency === 'filesystem' ? `file systems frozen${s.frozen_ms != null ? ` ${s.frozen_ms} ms` : ''}` : (s.consistency || 'crash')),
        h('td', {}, fmtBytes(s.mem_bytes)),
        h('td', {}, isAdmin() ? [
          h('button', { type: 'button', onclick: async () => {
            if (!(await ask(`Revert ${name} to ${s.name}?`, 'The running VM is replaced by the snapshot\'s: what happened since is lost.', [], { confirm: 'Revert', danger: true }))) return;
            try { await api('POST', vmPath(name, `snapshots/${encodeURIComponent(s.name)}/revert`)); toast('reverted'); } catch (e) { toast(e.message, true); }
            render();
          } }, 'Revert'),
          h('button', { type: 'button', class: 'danger', onclick: async () => {
            if (!(await ask(`Delete snapshot ${s.name}?`, 'Its files are removed.', [], { confirm: 'Delete', danger: true }))) return;
            try { await api('DELETE', vmPath(name, `snapshots/${encodeURIComponent(s.name)}`)); } catch (e) { toast(e.message, true); }
            render();
          } }, 'Delete')] : null)))) : h('p', { class: 'muted' }, 'No snapshots.'));
  } else if (tab === 'events') {
    const list = h('ul', { class: 'events' });
    append(body, list);
    try {
      const evs = await api('GET', vmPath(name, 'events'));
      for (const ev of evs.slice(-200).reverse()) append(list, eventItem(ev));
    } catch (e) { append(body, h('p', { class: 'bad' }, e.message)); }
    view.eventList = list;
  }
}

function eventItem(ev) {
  const when = ev.time ? new Date(ev.time * 1000).toLocaleString() : ev.stamp || '';
  const rest = { ...ev };
  for (const k of ['time', 'event', 'vm', 'stamp', 'message']) delete rest[k];
  return h('li', {}, h('span', { class: 'when' }, when), ' ', h('b', {}, ev.event || ''), ' ', ev.message || '', Object.keys(rest).length ? h('code', {}, ` ${JSON.stringify(rest)}`) : null);
}

// ---- login ---------------------------------------------------------------------------------

function renderLogin(msg) {
  const el = clear(main());
  const user = h('input', { name: 'user', autocomplete: 'username', required: true });
  const pw = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const err = h('p', { class: 'bad' }, msg || '');
  const form = h('form', { class: 'login', onsubmit: async (e) => {
    e.preventDefault();
    err.textContent = 'Checking…';
    try {
      state.session = await login(user.value, pw.value);
      pw.value = '';
      await start();
    } catch (ex) { err.textContent = ex.message; }
  } }, h('h1', {}, 'Log in to petreld'), h('label', {}, h('span', {}, 'User'), user), h('label', {}, h('span', {}, 'Password'), pw), h('button', { type: 'submit' }, 'Log in'), err);
  append(el, form);
  user.focus();
}

// ---- routing and life ----------------------------------------------------------------------

function route() {
  if (/^#\/networks\/?$/.test(location.hash)) return { name: null, networks: true };
  if (/^#\/images\/?$/.test(location.hash)) return { name: null, images: true };
  if (/^#\/backups\/?$/.test(location.hash)) return { name: null, backups: true };
  const n = location.hash.match(/^#\/new(?:\/([^/]+))?\/?$/);
  if (n) return { name: null, newvm: true, image: n[1] ? decodeURIComponent(n[1]) : null };
  const m = location.hash.match(/^#\/vm\/([^/]+)(?:\/([a-z]+))?/);
  return m ? { name: decodeURIComponent(m[1]), tab: TABS.includes(m[2]) ? m[2] : 'overview' } : { name: null };
}

function teardown() {
  if (!state.view) return;
  if (state.view.charts) state.view.charts.destroy();
  if (state.view.console) state.view.console.destroy();
  if (state.view.screen) state.view.screen.destroy();
  if (state.view.thumbs) clearInterval(state.view.thumbs);
  state.view = null;
}

async function render() {
  if (!state.session) return;
  teardown();
  const r = route();
  state.view = { name: r.name, tab: r.tab, networks: r.networks, images: r.images, newvm: r.newvm, backups: r.backups };
  const on = r.networks ? 'networks' : r.images || r.newvm ? 'images' : r.backups ? 'backups' : 'vms';
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('on', a.dataset.view === on);
  if (r.networks) await renderNetworks(main(), { admin: isAdmin(), refresh: render });
  else if (r.images) await renderImages(main(), { admin: isAdmin(), refresh: render });
  else if (r.backups) await renderBackups(main(), { admin: isAdmin(), refresh: render });
  else if (r.newvm) {
    if (isAdmin()) await renderNewVm(main(), { image: r.image, done: async (names) => { await refreshVms(); location.hash = names.length === 1 ? `#/vm/${encodeURIComponent(names[0])}` : '#/'; } });
    else append(clear(main()), h('p', { class: 'bad' }, 'read-only user: only an admin may make VMs'));
  }
  else if (r.name) await renderDetail(r.name, r.tab);
  else renderList();
}

let refreshing = null;
async function refreshVms() {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    try {
      const vms = await api('GET', '/vms');
      state.vms = new Map(vms.map((v) => [v.name, v]));
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) { state.session = null; renderLogin('Your session ended: log in again.'); }
    } finally { refreshing = null; }
  })();
  await refreshing;
  // The console and the screen keep running through state changes, and a form being filled in
  // stays; other views are rebuilt.
  if (state.session && !(state.view && (((state.view.tab === 'console' || state.view.tab === 'screen') && state.vms.has(state.view.name)) || state.view.newvm))) await render();
}

let lastEventsRefresh = 0;
function onEvent(ev) {
  if (state.view && state.view.eventList && ev.vm === state.view.name) state.view.eventList.prepend(eventItem(ev));
  const now = Date.now();
  if (now - lastEventsRefresh > 300) { lastEventsRefresh = now; refreshVms(); } else setTimeout(refreshVms, 350);
}

let stopper = null;
async function start() {
  if (stopper) stopper.abort();
  stopper = new AbortController();
  const who = document.getElementById('who');
  who.textContent = `${state.session.user} (${state.session.role})`;
  const out = document.getElementById('logout');
  out.hidden = false;
  out.onclick = async () => { try { await logout(); } catch { /* gone anyway */ } stopper.abort(); state.session = null; who.textContent = ''; out.hidden = true; teardown(); renderLogin(); };
  try { state.host = await api('GET', '/host'); } catch { state.host = { cpus: 1, hostname: '' }; }
  document.getElementById('hostname').textContent = state.host.hostname || '';
  state.metrics = new Metrics(state.host.cpus);
  await refreshVms();
  followEvents(onEvent, stopper.signal);
  const tick = async () => {
    if (stopper.signal.aborted) return;
    try {
      await state.metrics.sample(state.view && state.view.name);
      if (state.view && !state.view.name && !state.view.networks && !state.view.images && !state.view.newvm && !state.view.backups) updateListFigures();
      if (state.view && state.view.charts) state.view.charts.update(state.metrics.series.get(state.view.name));
      const hs = document.getElementById('hoststats');
      let cpu = 0;
      for (const n of state.metrics.now.values()) cpu += n.cpu || 0;
      hs.textContent = `${state.host.cpus} CPUs · VMs use ${cpu.toFixed(1)} %`;
    } catch { /* the next tick tries again */ }
    setTimeout(tick, POLL_MS);
  };
  tick();
}

window.addEventListener('hashchange', () => render());
window.addEventListener('DOMContentLoaded', async () => {
  try {
    state.session = await session();
  } catch (e) {
    append(clear(main()), h('p', { class: 'bad' }, `petreld refused: ${e.message}`));
    return;
  }
  if (state.session) await start();
  else renderLogin();
});
