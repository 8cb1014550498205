// The host's images (petreld's GET /images, docs/manager.md#images): name, format, size, the
// bytes they take, when they came and the VMs made from them; an admin removes one no VM uses.
// And the "New VM" form: POST /vms/from-image (a VM, or a count of them, on copy-on-write disks
// of an image, each with its own name, host name and cloud-init user).
import { api } from './api.js';
import { append, ask, clear, fmtBytes, h, toast } from './dom.js';

export const imagePath = (name) => `/images/${encodeURIComponent(name)}`;

async function remove(name, refresh) {
  const ok = await ask(`Remove image ${name}?`, 'Its file is removed from the store. Refused while a VM\'s disk is made from it.', [], { confirm: 'remove', danger: true });
  if (!ok) return;
  try {
    await api('DELETE', imagePath(name));
    toast(`image ${name} removed`);
  } catch (e) {
    toast(`image ${name}: remove failed: ${e.message}`, true);
  }
  await refresh();
}

export async function renderImages(el, { admin, refresh }) {
  let images;
  try {
    images = await api('GET', '/images');
  } catch (e) {
    append(clear(el), h('p', { class: 'bad' }, `images: ${e.message}`));
    return;
  }
  images.sort((a, b) => a.name.localeCompare(b.name));
  clear(el);
  append(el, h('div', { class: 'listhead' }, h('h1', {}, 'Images'),
    h('span', { class: 'muted' }, `${images.length} in the store`),
    admin && images.length ? h('a', { href: '#/new', class: 'button', 'data-act': 'new' }, 'New VM') : null));
  if (!images.length) {
    append(el, h('p', { class: 'muted' }, 'No image is in the store (petrelctl image-import NAME FILE).'));
    return;
  }
  const rows = images.map((i) => h('tr', { class: 'image', 'data-image': i.name },
    h('td', { class: 'name', 'data-label': 'Name' }, i.name),
    h('td', { class: 'c-format', 'data-label': 'Format' }, i.format),
    h('td', { class: 'c-size', 'data-label': 'Size' }, fmtBytes(i.virtual_size)),
    h('td', { class: 'c-bytes', 'data-label': 'On disk' }, fmtBytes(i.bytes)),
    h('td', { class: 'c-imported', 'data-label': 'Imported' }, i.imported_at ? new Date(i.imported_at * 1000).toLocaleString() : '—'),
    h('td', { class: 'c-vms', 'data-label': 'VMs' }, (i.vms || []).length ? i.vms.join(', ') : '—'),
    h('td', { class: 'c-actions' }, admin
      ? h('span', { class: 'actions' },
        h('a', { href: `#/new/${encodeURIComponent(i.name)}`, class: 'button', 'data-act': 'new' }, 'New VM'),
        h('button', { type: 'button', class: 'act danger', 'data-act': 'remove', disabled: (i.vms || []).length > 0, onclick: () => remove(i.name, refresh) }, 'Remove'))
      : h('span', { class: 'muted small' }, 'read-only'))));
  append(el, h('table', { class: 'vms images' },
    h('thead', {}, h('tr', {}, ['Name', 'Format', 'Size', 'On disk', 'Imported', 'VMs', ''].map((t) => h('th', {}, t)))),
    h('tbody', {}, rows)));
}

// One labelled field of the form.
function field(label, input, hint) {
  return h('label', {}, h('span', {}, label), input, hint ? h('small', { class: 'muted' }, hint) : null);
}

// The form into el; image: the one chosen in the list, or none. done(names) when the VMs exist.
export async function renderNewVm(el, { image, done }) {
  let images = [];
  let nets = [];
  try {
    [images, nets] = await Promise.all([api('GET', '/images'), api('GET', '/networks').catch(() => [])]);
  } catch (e) {
    append(clear(el), h('p', { class: 'bad' }, `images: ${e.message}`));
    return;
  }
  clear(el);
  append(el, h('div', { class: 'listhead' }, h('a', { href: '#/images', class: 'back' }, '‹ Images'), h('h1', {}, 'New VM')));
  if (!images.length) {
    append(el, h('p', { class: 'muted' }, 'No image is in the store to make a VM from (petrelctl image-import NAME FILE).'));
    return;
  }
  const inp = (name, attrs = {}) => h('input', { name, ...attrs });
  const f = {
    name: inp('name', { required: true, pattern: '[A-Za-z0-9][A-Za-z0-9\\-]{0,63}', placeholder: 'web1', autocomplete: 'off' }),
    image: h('select', { name: 'image' }, images.map((i) => h('option', { value: i.name, selected: i.name === image }, `${i.name} (${i.format}, ${fmtBytes(i.virtual_size)})`))),
    vcpus: inp('vcpus', { type: 'number', min: 1, max: 256, value: 1 }),
    memory: inp('memory_mib', { type: 'number', min: 64, value: 1024 }),
    disk: inp('disk_size_gib', { type: 'number', min: 1, placeholder: 'the image\'s size' }),
    user: inp('user', { value: 'debian', pattern: '[a-z_][a-z0-9_\\-]{0,31}' }),
    key: h('textarea', { name: 'ssh_key', rows: 3, placeholder: 'ssh-ed25519 AAAA... you@host (one key a line)' }),
    password: inp('password', { type: 'password', autocomplete: 'new-password' }),
    network: h('select', { name: 'network' }, h('option', { value: '' }, 'none'), nets.map((n) => h('option', { value: n.name }, `${n.name} (${n.kind}${n.active ? '' : ', not active'})`))),
    count: inp('count', { type: 'number', min: 1, max: 100, value: 1 }),
    boot: h('select', { name: 'boot' }, ['disk', 'seabios', 'ovmf'].map((b) => h('option', { value: b }, b === 'disk' ? 'from the disk (direct)' : b === 'seabios' ? 'SeaBIOS (BIOS)' : 'OVMF (UEFI)'))),
    start: h('input', { name: 'start', type: 'checkbox', checked: true }),
  };
  const err = h('p', { class: 'bad', id: 'newvm-error' });
  const submit = h('button', { type: 'submit', class: 'ok' }, 'Create');
  const form = h('form', { class: 'newvm', onsubmit: async (e) => {
    e.preventDefault();
    const body = { name: f.name.value.trim(), image: f.image.value, vcpus: Number(f.vcpus.value), memory_mib: Number(f.memory.value),
      count: Number(f.count.value), boot: f.boot.value, start: f.start.checked };
    if (f.disk.value) body.disk_size_gib = Number(f.disk.value);
    if (f.network.value) body.network = f.network.value;
    const keys = f.key.value.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    if (keys.length) body.ssh_authorized_keys = keys;
    // In clear to petreld (this page's session: the Unix socket or TLS), which hashes it with
    // crypt(3)'s yescrypt before it is written anywhere (docs/manager.md#the-new-vm-form).
    if (f.password.value) body.password = f.password.value;
    if (keys.length || f.password.value) body.user = f.user.value.trim();
    err.textContent = body.start ? 'Creating and starting…' : 'Creating…';
    submit.disabled = true;
    try {
      const vms = await api('POST', '/vms/from-image', body);
      f.password.value = '';
      toast(`${vms.map((v) => v.name).join(', ')}: made from image ${body.image}`);
      await done(vms.map((v) => v.name));
    } catch (ex) {
      err.textContent = ex.message;
    } finally { submit.disabled = false; }
  } },
  h('div', { class: 'grid' },
    field('Name', f.name, 'with a count: NAME-1 … NAME-N'),
    field('Image', f.image),
    field('vCPUs', f.vcpus),
    field('Memory (MiB)', f.memory),
    field('Disk size (GiB)', f.disk, 'at least the image\'s; empty: the image\'s'),
    field('Network', f.network),
    field('User', f.user, 'made by cloud-init, with sudo'),
    field('Password', f.password, 'or an SSH key, or both'),
    field('SSH public key(s)', f.key),
    field('Boot', f.boot),
    field('How many', f.count),
    h('label', { class: 'check' }, f.start, h('span', {}, 'Start at once'))),
  h('div', { class: 'buttons' }, h('a', { href: '#/images', class: 'button' }, 'Cancel'), submit), err);
  append(el, form);
  f.name.focus();
}
