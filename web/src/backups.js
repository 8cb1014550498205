// The host's backup jobs (petreld's GET /backup-jobs, docs/backups.md): each job's schedule, its
// VMs, retention, the last run with its result per VM, the next run; an admin runs one now or
// removes it. Backups listed per VM come with the job's GET /backup-jobs/ID.
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

export async function renderBackups(el, { admin, refresh }) {
  let jobs;
  try {
    jobs = await api('GET', '/backup-jobs');
  } catch (e) {
    append(clear(el), h('p', { class: 'bad' }, `backup jobs: ${e.message}`));
    return;
  }
  jobs.sort((a, b) => a.id.localeCompare(b.id));
  clear(el);
  append(el, h('div', { class: 'listhead' }, h('h1', {}, 'Backups'), h('span', { class: 'muted' }, `${jobs.length} job(s)`)));
  if (!jobs.length) {
    append(el, h('p', { class: 'muted' }, 'No backup job is defined (petrelctl backup-job-define FILE).'));
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
}
