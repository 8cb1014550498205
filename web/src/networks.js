// The host's networks (petreld's GET /networks, docs/networks.md): name, kind, bridge, subnet,
// whether active and autostarted, the VMs whose definitions name it and its DHCP leases; an
// admin starts and destroys them here as the VMs' list does with VMs.
import { api } from './api.js';
import { append, ask, clear, h, toast } from './dom.js';

export const netPath = (name, sub = '') => `/networks/${encodeURIComponent(name)}${sub ? `/${sub}` : ''}`;

const yesNo = (b) => h('span', { class: `state ${b ? 'st-running' : ''}` }, b ? 'yes' : 'no');

// verb: 'start' or 'destroy' (asked first: the bridge, its table and dnsmasq go away).
async function act(name, verb, refresh) {
  if (verb === 'destroy') {
    const ok = await ask(`Destroy network ${name}?`, 'Its bridge, firewall table and dnsmasq are removed (its definition and leases stay). Refused while a VM runs on it.',
      [], { confirm: 'destroy', danger: true });
    if (!ok) return;
  }
  try {
    await api('POST', netPath(name, verb));
    toast(`network ${name}: ${verb} done`);
  } catch (e) {
    toast(`network ${name}: ${verb} failed: ${e.message}`, true);
  }
  await refresh();
}

function buttons(n, admin, refresh) {
  if (!admin) return h('span', { class: 'muted small' }, 'read-only');
  const b = (verb, label, cls = '') => h('button', { type: 'button', class: `act ${cls}`, 'data-act': verb, onclick: (e) => { e.stopPropagation(); act(n.name, verb, refresh); } }, label);
  return h('span', { class: 'actions' }, n.active ? b('destroy', 'Destroy', 'danger') : b('start', 'Start'));
}

// The list into el; refresh() is called after an action (the event stream also brings it).
export async function renderNetworks(el, { admin, refresh }) {
  let nets;
  try {
    nets = await api('GET', '/networks');
  } catch (e) {
    append(clear(el), h('p', { class: 'bad' }, `networks: ${e.message}`));
    return;
  }
  nets.sort((a, b) => a.name.localeCompare(b.name));
  clear(el);
  append(el, h('div', { class: 'listhead' }, h('h1', {}, 'Networks'),
    h('span', { class: 'muted' }, `${nets.length} defined, ${nets.filter((n) => n.active).length} active`)));
  if (!nets.length) {
    append(el, h('p', { class: 'muted' }, 'No network is defined on this host (petrelctl net-define FILE).'));
    return;
  }
  const rows = nets.map((n) => h('tr', { class: 'net', 'data-net': n.name },
    h('td', { class: 'name', 'data-label': 'Name' }, n.name),
    h('td', { class: 'c-kind', 'data-label': 'Kind' }, n.kind),
    h('td', { class: 'c-bridge', 'data-label': 'Bridge' }, n.bridge),
    h('td', { class: 'c-subnet', 'data-label': 'Subnet' }, n.subnet || '—'),
    h('td', { class: 'c-active', 'data-label': 'Active' }, yesNo(n.active)),
    h('td', { class: 'c-autostart', 'data-label': 'Autostart' }, n.autostart ? 'yes' : 'no'),
    h('td', { class: 'c-vms', 'data-label': 'VMs' }, String(n.vms ?? 0)),
    h('td', { class: 'c-leases', 'data-label': 'Leases' }, n.leases != null ? String(n.leases) : '—'),
    h('td', { class: 'c-actions' }, buttons(n, admin, refresh))));
  append(el, h('table', { class: 'vms nets' },
    h('thead', {}, h('tr', {}, ['Name', 'Kind', 'Bridge', 'Subnet', 'Active', 'Autostart', 'VMs', 'Leases', ''].map((t) => h('th', {}, t)))),
    h('tbody', {}, rows)));
}
