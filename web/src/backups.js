// The host's backup jobs (petreld's GET /backup-jobs, docs/backups.md): each job's schedule, its
// VMs, retention, the last run with its result per VM, the next run; an admin runs one now or
// removes it. Below them every VM's backups (GET /vms/NAME/backups: its own and its jobs'
// targets'), each member with its chain (full or incremental, the member it builds on, why a
// full one was made) and consistency; an admin restores a shut-off VM from any member.
import { api } from './api.js';
import { append, ask, clear, h, toast } from './dom.js';

const jobPath = (id, sub) => `/backup-jobs/${encodeURIComponent(id)}${sub ? `/${sub}` : ''}`;
const when = (t) => (t ? new Date(t * 1000).toLocaleString() : '—');

function retention(r) {
  const parts = Object.entries(r || {}).filter(([, n]) => n).map(([k, n]) => `${k.replace('keep-', '')} ${n}`);
  return parts.length ? parts.join(', ') : 'keep all';
}

// The last run's result per VM: "ok NAME" or "failed: why".
function lastVms(j) {
  const vms = j.last_vms || {};
  const names = Object.keys(vms);
  if (!names.length) return h('span', { class: 'muted' }, '—');
  return h('ul', { class: 'plain' }, names.map((vm) => {
    const r = vms[vm];
    return h('li', { class: r.result === 'ok' ? 'ok' : 'bad', 'data-vm': vm },
      `${vm}: ${r.result}${r.result === 'ok' ? ` (${r.backup})` : `: ${r.reason || ''}`}`);
  }));
}

async function runNow(id, refresh) {
  toast(`backup job ${id}: running`);
  try {
    const j = await api('POST', jobPath(id, 'run'));
    toast(`backup job ${id}: ${j.last_result}`, j.last_result !== 'ok');
  } catch (e) {
    toast(`backup job ${id}: ${e.message}`, true);
  }
  await refresh();
}

async function remove(id, refresh) {
  const ok = await ask(`Remove backup job ${id}?`, 'It runs no more; the backups it made stay.', [], { confirm: 'remove', danger: true });
  if (!ok) return;
  try {
    await api('DELETE', jobPath(id));
    toast(`backup job ${id} removed`);
  } catch (e) {
    toast(`backup job ${id}: remove failed: ${e.message}`, true);
  }
  await refresh();
}

async function restore(vm, name, refresh) {
  const ok = await ask(`Restore ${vm} from ${name}?`,
    'The VM must be shut off; its disks (and a UEFI VM\'s variables) become the backup\'s, the chain flattened for an incremental member.',
    [], { confirm: 'restore', danger: true });
  if (!ok) return;
  try {
    await api('POST', `/vms/${encodeURIComponent(vm)}/restore`, { backup: name });
    toast(`${vm}: restored from ${name}`);
  } catch (e) {
    toast(`${vm}: restore from ${name} failed: ${e.message}`, true);
  }
  await refresh();
}

// Every VM's backups, newest first, one row a member.
async function vmBackups(admin, refresh) {
  let vms;
  try {
    vms = await api('GET', '/vms');
  } catch (e) {
    return [h('p', { class: 'bad' }, `VMs: ${e.message}`)];
  }
  const lists = await Promise.all(vms.map((v) => api('GET', `/vms/${encodeURIComponent(v.name)}/backups`)
    .then((l) => [v, l]).catch(() => [v, []])));
  const rows = [];
  for (const [v, list] of lists) {
    for (const b of [...list].reverse()) {
      const chain = b.mode === 'incremental' ? `incremental on ${b.parent || '?'}` : `full${b.why ? ` (${b.why})` : ''}`;
      const cons = b.consistency ? `${b.consistency}${b.frozen_ms !== undefined ? `, frozen ${b.frozen_ms} ms` : ''}` : 'crash';
      rows.push(h('tr', { class: 'backup', 'data-vm': v.name, 'data-backup': b.name },
        h('td', { class: 'c-vm', 'data-label': 'VM' }, v.name),
        h('td', { class: 'name', 'data-label': 'Backup' }, b.name),
        h('td', { class: 'c-created', 'data-label': 'Made' }, when(b.created)),
        h('td', { class: 'c-chain', 'data-label': 'Chain' }, chain),
        h('td', { class: 'c-consistency', 'data-label': 'Consistency' }, cons),
        h('td', { class: 'c-actions' }, admin
          ? h('button', { type: 'button', class: 'act danger', 'data-act': 'restore', disabled: v.state === 'running' || v.state === 'paused',
            title: v.state === 'running' || v.state === 'paused' ? 'shut the VM off first' : '', onclick: () => restore(v.name, b.name, refresh) }, 'Restore')
          : h('span', { class: 'muted small' }, 'read-only'))));
    }
  }
  if (!rows.length) return [h('p', { class: 'muted' }, 'No VM has a backup yet.')];
  return [h('table', { class: 'vms vm-backups' },
    h('thead', {}, h('tr', {}, ['VM', 'Backup', 'Made', 'Chain', 'Consistency', ''].map((t) => h('th', {}, t)))),
    h('tbody', {}, rows))];
}

export async function renderBackups(el, { admin, refresh }) {
  let jobs;
  try {
    jobs = await api('GET', '/backup-jobs');
  } catch (e) {
    append(clear(el), h('p', { class: 'bad' }, `backup jobs: ${e.message}`));
    return;
  }
  jobs.sort((a, b) => a.id.localeCompare(b.id));
  // everything fetched before the view is cleared: it never shows a half-drawn list
  const perVm = await vmBackups(admin, refresh);
  clear(el);
  append(el, h('div', { class: 'listhead' }, h('h1', {}, 'Backups'), h('span', { class: 'muted' }, `${jobs.length} job(s)`)));
  const tail = () => append(el, h('h2', {}, 'Backups by VM'), ...perVm);
  if (!jobs.length) {
    append(el, h('p', { class: 'muted' }, 'No backup job is defined (petrelctl backup-job-define FILE).'));
    tail();
    return;
  }
  const rows = jobs.map((j) => {
    const d = j.definition || {};
    return h('tr', { class: 'backup-job', 'data-job': j.id },
      h('td', { class: 'name', 'data-label': 'Job' }, j.id),
      h('td', { class: 'c-vms', 'data-label': 'VMs' }, Array.isArray(d.vms) ? d.vms.join(', ') : 'all running'),
      h('td', { class: 'c-schedule', 'data-label': 'Schedule' }, j.schedule),
      h('td', { class: 'c-retention', 'data-label': 'Retention' }, retention(d.retention)),
      h('td', { class: 'c-last', 'data-label': 'Last run' }, when(j.last_run)),
      h('td', { class: `c-result ${j.last_result === 'ok' ? 'ok' : j.last_result ? 'bad' : ''}`, 'data-label': 'Result' },
        j.running ? 'running' : j.last_result || '—', lastVms(j)),
      h('td', { class: 'c-next', 'data-label': 'Next run' }, when(j.next_run)),
      h('td', { class: 'c-actions' }, admin
        ? h('span', { class: 'actions' },
          h('button', { type: 'button', class: 'act', 'data-act': 'run', disabled: j.busy, onclick: () => runNow(j.id, refresh) }, 'Run now'),
          h('button', { type: 'button', class: 'act danger', 'data-act': 'remove', disabled: j.busy, onclick: () => remove(j.id, refresh) }, 'Remove'))
        : h('span', { class: 'muted small' }, 'read-only')));
  });
  append(el, h('table', { class: 'vms backups' },
    h('thead', {}, h('tr', {}, ['Job', 'VMs', 'Schedule', 'Retention', 'Last run', 'Result', 'Next run', ''].map((t) => h('th', {}, t)))),
    h('tbody', {}, rows)));
  tail();
}
