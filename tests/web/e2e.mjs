// The browser side of tests/web (run by weblib.browser): headless Debian Chromium driven by
// playwright-core from web/node_modules, against a real petreld at URL. One scenario a run:
//   node e2e.mjs SCENARIO URL   (parameters in $E2E_PARAMS, JSON)
// It prints one JSON line with what it saw and exits non-zero with the reason when a check fails.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../web/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const [scenario, base] = process.argv.slice(2);
const P = JSON.parse(process.env.E2E_PARAMS || '{}');
const T = P.timeout_ms || 30000;

async function session(page) {
  return page.evaluate(async () => (await fetch('/auth/session')).json());
}

// fetch from inside the page (its cookie, its origin): [status, body]
async function pageFetch(page, method, path, { body, token } = {}) {
  return page.evaluate(async ([m, p, b, t]) => {
    const headers = {};
    if (t) headers['X-CSRF-Token'] = t;
    if (b !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(p, { method: m, headers, body: b === undefined ? undefined : JSON.stringify(b) });
    return [r.status, await r.text()];
  }, [method, path, body, token]);
}

async function fetch_json(url, page) {
  return page.evaluate(async (u) => (await fetch(u)).json(), url);
}

async function rows(page) {
  return page.$$eval('tr.vm', (trs) => trs.map((tr) => ({
    name: tr.querySelector('td.name').textContent,
    state: tr.querySelector('.c-state .state').textContent,
    vcpus: tr.querySelector('.c-vcpus').textContent,
    mem: tr.querySelector('.c-mem').textContent,
  })));
}

async function waitState(page, name, st, timeout = T) {
  await page.waitForFunction(([n, s]) => {
    const h = document.querySelector('.detailhead .state');
    const title = document.querySelector('.detailhead .vmname');
    return h && title && title.textContent === n && h.textContent === s;
  }, [name, st], { timeout });
}

// Another view of the page without loading it again (the hash router).
async function gotoHash(page, hash) {
  await page.evaluate((hh) => { location.hash = hh; }, hash);
}

async function clickAct(page, act, confirm) {
  await page.click(`.detailactions button[data-act="${act}"]`);
  if (confirm) {
    await page.waitForSelector('dialog[open] button.ok', { timeout: T });
    await page.click('dialog[open] button.ok');
  }
}

// With P.user (petreld with --web-login): log in at the form the page shows first.
async function loginIfAsked(page) {
  if (!P.user) return;
  await page.waitForSelector('form.login', { timeout: T });
  await page.fill('input[name=user]', P.user);
  await page.fill('input[name=password]', P.password);
  await page.click('form.login button[type=submit]');
}

const scenarios = {
  // The list shows what the API says (with P.user, a login first); hostile text in a definition stays text.
  async list(page) {
    await page.goto(`${base}/ui/`);
    await loginIfAsked(page);
    await page.waitForSelector('tr.vm', { timeout: T });
    const got = await rows(page);
    const out = { rows: got };
    if (P.hostile_vm) {
      await page.evaluate(() => { window.__xss = 0; });
      await page.goto(`${base}/ui/#/vm/${P.hostile_vm}/definition`);
      await page.waitForSelector('pre.json', { timeout: T });
      const text = await page.textContent('pre.json');
      assert.ok(text.includes(P.hostile_text), `the definition does not show ${P.hostile_text} as text`);
      await page.goto(`${base}/ui/#/vm/${P.hostile_vm}/devices`);
      await page.waitForSelector('table.plain', { timeout: T });
      const devText = await page.textContent('.tabbody');
      assert.ok(devText.includes(P.hostile_text), 'the disks table does not show the path as text');
      out.injected = await page.evaluate(() => ({ xss: window.__xss || 0, imgs: document.querySelectorAll('main img').length,
        scripts: document.querySelectorAll('main script, main iframe').length }));
      assert.deepEqual(out.injected, { xss: 0, imgs: 0, scripts: 0 });
    }
    // P.devices: those VMs' devices tabs, how each boots (the "Boot" rows) and its disks
    if (P.devices) {
      out.devices = {};
      for (const n of P.devices) {
        await gotoHash(page, `#/vm/${n}/devices`);
        // the tab is drawn in two steps (the definition's Boot and Disks, then petreld's view of
        // the interfaces after a second request): wait for the last section
        await page.waitForFunction((nn) => document.querySelector('.detailhead .vmname')?.textContent === nn &&
          document.querySelector('.tabbody dl.kv') &&
          [...document.querySelectorAll('.tabbody h2')].some((h) => h.textContent === 'Network interfaces'), n, { timeout: T });
        out.devices[n] = await page.$eval('.tabbody', (b) => ({
          boot: Object.fromEntries([...b.querySelector('dl.kv').querySelectorAll('dt')].map((dt) => [dt.textContent, dt.nextElementSibling.textContent])),
          disks: [...(b.querySelector('table.plain')?.querySelectorAll('tr') || [])].slice(1).map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
          text: b.innerText,
        }));
      }
    }
    return out;
  },

  // CSRF: the page's own changes need its token; another site's page cannot act at all.
  async csrf(page, ctx) {
    await page.goto(`${base}/ui/`);
    await page.waitForSelector('tr.vm', { timeout: T });
    const s = await session(page);
    const name = P.vm;
    const res = {};
    res.no_token = (await pageFetch(page, 'PUT', `/vms/${name}/resources`, { body: { cpu_weight: 300 } }))[0];
    res.bad_token = (await pageFetch(page, 'PUT', `/vms/${name}/resources`, { body: { cpu_weight: 300 }, token: 'a'.repeat(64) }))[0];
    res.with_token = (await pageFetch(page, 'PUT', `/vms/${name}/resources`, { body: { cpu_weight: 200 }, token: s.csrf }))[0];
    // Another origin of the same site (127.0.0.1, another port: the SameSite cookie goes with
    // its requests, so only petreld's checks stand): a form posting a definition as text/plain
    // JSON, a no-cors fetch, a read, a WebSocket.
    const evilOrigin = 'http://127.0.0.1:1';
    const evil = await ctx.newPage();
    await evil.route(`${evilOrigin}/**`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: `<!doctype html>
      <form id=f method=POST action="${base}/vms" enctype="text/plain"><input name='{"petrel":{"name":"pwned"},"machine-config":{"vcpu_count":1,"mem_size_mib":32},"boot-source":{"kernel_image_path":"${P.kernel}"},"x":"' value='"}'></form>
      <script>
        window.done = (async () => {
          const out = {};
          try { await fetch('${base}/vms', { method: 'POST', mode: 'no-cors', credentials: 'include', body: JSON.stringify({petrel: {name: 'pwned2'}, 'machine-config': {vcpu_count: 1, mem_size_mib: 32}, 'boot-source': {kernel_image_path: '${P.kernel}'}}) }); out.fetch = 'sent'; } catch (e) { out.fetch = 'blocked'; }
          try { const r = await fetch('${base}/vms', { credentials: 'include' }); out.read = r.status; } catch (e) { out.read = 'blocked'; }
          out.ws = await new Promise((res) => { const w = new WebSocket('${base.replace('http', 'ws')}/vms/${name}/console'); w.onopen = () => res('open'); w.onerror = () => res('refused'); setTimeout(() => res('timeout'), 5000); });
          return out;
        })();
      </script>` }));
    await evil.goto(`${evilOrigin}/`);
    res.evil = await evil.evaluate(() => window.done);
    await Promise.all([evil.waitForNavigation({ timeout: T }).catch(() => null), evil.evaluate(() => document.getElementById('f').submit())]);
    res.form_page = (await evil.content()).slice(0, 300);
    assert.equal(res.no_token, 403);
    assert.equal(res.bad_token, 403);
    assert.equal(res.with_token, 200);
    assert.notEqual(res.evil.ws, 'open');
    assert.equal(res.evil.read, 'blocked');
    return res;
  },

  // The host's networks (#/networks): the rows as the API has them; with P.start and P.destroy
  // (an admin), each network's button clicked and its row followed to the new state; with
  // P.user, a login first (loginIfAsked).
  async networks(page) {
    const netRows = () => page.$$eval('tr.net', (trs) => trs.map((tr) => Object.fromEntries(
      ['name', 'c-kind', 'c-bridge', 'c-subnet', 'c-active', 'c-autostart', 'c-vms', 'c-leases'].map((c) => [c.replace('c-', ''), tr.querySelector(`.${c}`).textContent]))));
    const untilActive = (name, yes) => page.waitForFunction(([n, y]) => {
      const td = document.querySelector(`tr.net[data-net="${n}"] .c-active`);
      return td && td.textContent === y;
    }, [name, yes], { timeout: T });
    await page.goto(`${base}/ui/#/networks`);
    await loginIfAsked(page);
    await page.waitForSelector('tr.net', { timeout: T });
    const out = { rows: await netRows(), buttons: await page.$$eval('tr.net button.act', (b) => b.map((x) => x.dataset.act)) };
    out.nav_on = await page.$eval('#nav a.on', (a) => a.dataset.view);
    if (P.start) {
      await page.click(`tr.net[data-net="${P.start}"] button[data-act=start]`);
      await untilActive(P.start, 'yes');
      out.started = (await fetch_json(`/networks/${P.start}`, page)).active;
    }
    if (P.destroy) {
      await page.click(`tr.net[data-net="${P.destroy}"] button[data-act=destroy]`);
      await page.waitForSelector('dialog[open] button.ok', { timeout: T });
      await page.click('dialog[open] button.ok');
      await untilActive(P.destroy, 'no');
      out.destroyed = !(await fetch_json(`/networks/${P.destroy}`, page)).active;
    }
    out.rows_after = await netRows();
    if (P.screenshot) await page.screenshot({ path: P.screenshot });
    return out;
  },

  // The Images list (#/images) against the API, then the "New VM" form: P.newvm's fields filled
  // in and sent; the VMs it made as the list then shows them. P.remove: an image removed.
  async images(page) {
    const imgRows = () => page.$$eval('tr.image', (trs) => trs.map((tr) => Object.fromEntries(
      ['name', 'c-format', 'c-size', 'c-vms'].map((c) => [c.replace('c-', ''), tr.querySelector(`.${c}`).textContent]))));
    await page.goto(`${base}/ui/#/images`);
    await loginIfAsked(page);
    await page.waitForSelector('tr.image', { timeout: T });
    const out = { rows: await imgRows(), nav_on: await page.$eval('#nav a.on', (a) => a.dataset.view) };
    out.buttons = await page.$$eval('tr.image [data-act]', (b) => b.map((x) => x.dataset.act));
    if (P.newvm) {
      const f = P.newvm;
      await page.click(`tr.image[data-image="${f.image}"] a[data-act=new]`);
      await page.waitForSelector('form.newvm', { timeout: T });
      out.chosen = await page.$eval('form.newvm select[name=image]', (s) => s.value);
      out.networks = await page.$$eval('form.newvm select[name=network] option', (o) => o.map((x) => x.value));
      await page.fill('form.newvm input[name=name]', f.name);
      for (const k of ['vcpus', 'memory_mib', 'disk_size_gib', 'count', 'password', 'user']) if (f[k] != null) await page.fill(`form.newvm input[name=${k}]`, String(f[k]));
      if (f.ssh_key) await page.fill('form.newvm textarea[name=ssh_key]', f.ssh_key);
      if (f.boot) await page.selectOption('form.newvm select[name=boot]', f.boot);
      if (f.start === false) await page.uncheck('form.newvm input[name=start]');
      // what the form sends, seen on the way out
      const sent = page.waitForRequest((r) => r.url().endsWith('/vms/from-image') && r.method() === 'POST', { timeout: T });
      await page.click('form.newvm button[type=submit]');
      out.sent = JSON.parse((await sent).postData());
      if (f.fails) {
        await page.waitForFunction(() => { const t = document.querySelector('#newvm-error').textContent; return t && !t.startsWith('Creating'); }, null, { timeout: T });
        out.error = await page.$eval('#newvm-error', (e) => e.textContent);
        out.still_form = (await page.$('form.newvm')) !== null;
      } else {
        await page.waitForFunction(() => !document.querySelector('form.newvm'), null, { timeout: T });
        out.hash = await page.evaluate(() => location.hash);
        if (out.hash === '#/') {
          await page.waitForSelector('tr.vm', { timeout: T });
          out.vm_rows = await rows(page);
        } else {
          await page.waitForSelector('.detailhead .vmname', { timeout: T });
          out.detail = await page.$eval('.detailhead .vmname', (e) => e.textContent);
        }
      }
    }
    if (P.remove) {
      await gotoHash(page, '#/images');
      await page.waitForSelector(`tr.image[data-image="${P.remove}"]`, { timeout: T });
      await page.click(`tr.image[data-image="${P.remove}"] button[data-act=remove]`);
      await page.waitForSelector('dialog[open] button.ok', { timeout: T });
      await page.click('dialog[open] button.ok');
      await page.waitForFunction((n) => !document.querySelector(`tr.image[data-image="${n}"]`), P.remove, { timeout: T });
      out.rows_after = await imgRows();
    }
    if (P.screenshot) await page.screenshot({ path: P.screenshot, fullPage: true });
    return out;
  },

  // The Backups view (#/backups) against the API: each job's row; P.run: its "Run now" pressed and
  // the row's result after it; P.remove: a job removed; every VM's backups (vm_rows) and P.restore.
  async backups(page) {
    const jobRows = () => page.$$eval('tr.backup-job', (trs) => trs.map((tr) => Object.fromEntries(
      ['name', 'c-vms', 'c-schedule', 'c-retention', 'c-last', 'c-result', 'c-next'].map((c) => [c.replace('c-', ''), tr.querySelector(`.${c}`).textContent]))));
    await page.goto(`${base}/ui/#/backups`);
    await loginIfAsked(page);
    await page.waitForSelector('tr.backup-job', { timeout: T });
    const vmRows = () => page.$$eval('tr.backup', (trs) => trs.map((tr) => Object.fromEntries(
      ['c-vm', 'name', 'c-chain', 'c-consistency'].map((c) => [c.replace('c-', ''), tr.querySelector(`.${c}`).textContent]))));
    const out = { rows: await jobRows(), nav_on: await page.$eval('#nav a.on', (a) => a.dataset.view) };
    out.buttons = await page.$$eval('tr.backup-job [data-act]', (b) => b.map((x) => x.dataset.act));
    out.vm_rows = await vmRows();
    out.restore_buttons = await page.$$eval('tr.backup [data-act=restore]', (b) => b.map((x) => x.closest('tr').dataset.backup));
    if (P.restore) {   // "VM/BACKUP": its Restore pressed and confirmed; the toast that answers
      const [vm, b] = P.restore.split('/');
      await page.click(`tr.backup[data-vm="${vm}"][data-backup="${b}"] button[data-act=restore]`);
      await page.waitForSelector('dialog[open] button.ok', { timeout: T });
      await page.click('dialog[open] button.ok');
      await page.waitForFunction(() => /restore/.test(document.getElementById('toast').textContent), null, { timeout: T });
      out.restore_toast = await page.textContent('#toast');
    }
    if (P.run) {
      await page.click(`tr.backup-job[data-job="${P.run}"] button[data-act=run]`);
      await page.waitForFunction((j) => {
        const td = document.querySelector(`tr.backup-job[data-job="${j}"] .c-last`);
        return td && td.textContent !== '—';
      }, P.run, { timeout: T });
      out.rows_after_run = await jobRows();
    }
    if (P.remove) {
      await page.click(`tr.backup-job[data-job="${P.remove}"] button[data-act=remove]`);
      await page.waitForSelector('dialog[open] button.ok', { timeout: T });
      await page.click('dialog[open] button.ok');
      // the removed job's row gone and the view drawn again (its other rows back)
      const others = out.rows.map((r) => r.name).filter((n) => n !== P.remove);
      await page.waitForFunction(([n, rest]) => !document.querySelector(`tr.backup-job[data-job="${n}"]`) &&
        rest.every((o) => document.querySelector(`tr.backup-job[data-job="${o}"]`)), [P.remove, others], { timeout: T });
      out.rows_after = await jobRows();
    }
    if (P.screenshot) await page.screenshot({ path: P.screenshot, fullPage: true });
    return out;
  },

  // Logins and roles (petreld with --users and --web-login).
  async login(page) {
    await page.goto(`${base}/ui/`);
    await page.waitForSelector('form.login', { timeout: T });
    await page.fill('input[name=user]', P.user);
    await page.fill('input[name=password]', P.password + 'x');
    await page.click('form.login button[type=submit]');
    await page.waitForFunction(() => /wrong user or password/.test(document.querySelector('form.login .bad').textContent), null, { timeout: T });
    await page.fill('input[name=password]', P.password);
    await page.click('form.login button[type=submit]');
    await page.waitForSelector('tr.vm', { timeout: T });
    const s = await session(page);
    const res = { role: s.role, who: await page.textContent('#who'), buttons: await page.$$eval('tr.vm button.act', (b) => b.length) };
    const cookies = await page.context().cookies();
    const c = cookies.find((k) => k.name === 'petrel_session');
    res.cookie = { httpOnly: c.httpOnly, secure: c.secure, sameSite: c.sameSite };
    res.cookie_seen_by_script = await page.evaluate(() => document.cookie.includes('petrel_session'));
    res.put = (await pageFetch(page, 'PUT', `/vms/${P.vm}/resources`, { body: { cpu_weight: 150 }, token: s.csrf }))[0];
    await page.click('#logout');
    await page.waitForSelector('form.login', { timeout: T });
    res.after_logout = (await pageFetch(page, 'GET', '/vms'))[0];
    return res;
  },

  // The console: output as text in the terminal, keys to the guest.
  async console(page) {
    await page.goto(`${base}/ui/#/vm/${P.vm}/console`);
    await page.waitForFunction(() => document.querySelector('.constatus') && document.querySelector('.constatus').textContent === 'connected', null, { timeout: T });
    const res = {};
    if (P.expect) {
      await page.waitForFunction((e) => document.querySelector('.xterm-rows') && document.querySelector('.xterm-rows').textContent.includes(e), P.expect, { timeout: P.expect_timeout_ms || T });
      res.screen = (await page.textContent('.xterm-rows')).replace(/\s+/g, ' ').slice(-400);
      res.injected = await page.evaluate(() => document.querySelectorAll('.term b, .term img, .term script').length);
    }
    if (P.type) {
      await page.click('.term');
      await page.keyboard.type(P.type, { delay: 20 });
      await page.keyboard.press('Enter');
      if (P.expect_after) {
        await page.waitForFunction((e) => document.querySelector('.xterm-rows').textContent.includes(e), P.expect_after, { timeout: P.expect_timeout_ms || T });
      }
      res.typed = true;
    }
    if (P.screenshot) await page.screenshot({ path: P.screenshot });
    return res;
  },

  // The screen tab (noVNC): logged in as P.user, the frame drawn (P.probe: [x, y, r, g, b], by
  // default 0x3366cc at 5,5), P.typed typed (and Enter with P.enter) and a click on it,
  // Ctrl-Alt-Del from the menu (admins only, unless P.no_combo), the screenshot link's answer;
  // before, in the list, the VM's thumbnail (res.thumb: its size, null when none came).
  async screen(page) {
    const res = {};
    await page.goto(`${base}/ui/`);
    await page.waitForSelector('form.login', { timeout: T });
    await page.fill('input[name=user]', P.user);
    await page.fill('input[name=password]', P.password);
    await page.click('form.login button[type=submit]');
    await page.waitForSelector('tr.vm', { timeout: T });
    // the list's thumbnail of the screen (a VM with a display, running): its size as drawn
    res.thumb = await page.waitForFunction((vm) => {
      const img = document.querySelector(`img.thumb[data-vm="${vm}"]`);
      return img && !img.hidden && img.complete && img.naturalWidth ? { w: img.naturalWidth, h: img.naturalHeight } : null;
    }, P.vm, { timeout: T }).then((x) => x.jsonValue(), () => null);
    await gotoHash(page, `#/vm/${P.vm}/screen`);
    await page.waitForFunction(() => document.querySelector('.scrstatus') && document.querySelector('.scrstatus').textContent.startsWith('connected'), null, { timeout: T });
    const probe = P.probe || [5, 5, 0x33, 0x66, 0xcc];   // x, y and the colour expected there
    // P.tolerance: how far each channel may be (noVNC asks for Tight with JPEG: a photo-like
    // screen comes lossy)
    res.blue = await page.waitForFunction(([x, y, r, g, b, tol]) => {
      const c = document.querySelector('.screen canvas');
      if (!c || !c.width) return false;
      const d = c.getContext('2d').getImageData(x, y, 1, 1).data;
      return Math.abs(d[0] - r) <= tol && Math.abs(d[1] - g) <= tol && Math.abs(d[2] - b) <= tol;
    }, [...probe, P.tolerance || 0], { timeout: T }).then(() => true, () => false);
    res.canvas = await page.evaluate(() => { const c = document.querySelector('.screen canvas'); return { w: c.width, h: c.height }; });
    await page.click('.screen canvas', { position: { x: 20, y: 20 } });
    await page.keyboard.type(P.typed, { delay: 30 });
    if (P.enter) await page.keyboard.press('Enter');
    res.menu = await page.$$eval('select.combos', (x) => x.length);
    if (res.menu && !P.no_combo) await page.selectOption('select.combos', 'Ctrl-Alt-Del');
    res.shot = (await page.evaluate(async (u) => (await fetch(u)).status, await page.getAttribute('.tabbody a.button', 'href')));
    await page.waitForTimeout(300);
    res.status = await page.textContent('.scrstatus');
    if (P.screenshot) await page.screenshot({ path: P.screenshot });
    return res;
  },

  // A phone-sized screen (P.viewport): the list, a VM's overview and its console fit its width.
  async phone(page) {
    const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    const out = {};
    await page.goto(`${base}/ui/`);
    await page.waitForSelector('tr.vm', { timeout: T });
    out.list = await overflow();
    out.cards = await page.$$eval('tr.vm', (trs) => trs.map((tr) => Math.round(tr.getBoundingClientRect().width)));
    await gotoHash(page, `#/vm/${P.vm}`);
    await page.waitForSelector('.hastatus dl', { timeout: T });
    out.detail = await overflow();
    await gotoHash(page, `#/vm/${P.vm}/console`);
    await page.waitForSelector('.term .xterm', { timeout: T });
    out.console = await overflow();
    if (P.screenshot) await page.screenshot({ path: P.screenshot });
    return out;
  },

  // A VM's overview: its migration and replication status as the page shows it.
  async details(page) {
    await page.goto(`${base}/ui/#/vm/${P.vm}`);
    await page.waitForSelector('.hastatus dl', { timeout: T });
    return { status: await page.$$eval('.hastatus dt', (dts) => Object.fromEntries(dts.map((dt) => [dt.textContent, dt.nextElementSibling.textContent]))) };
  },

  // Pictures of the main views for docs/ on a host without KVM (tests/web/screenshots.py).
  async screenshots(page, ctx, browser) {
    const out = {};
    await page.goto(`${base}/ui/`);
    await page.waitForSelector('tr.vm', { timeout: T });
    await page.waitForTimeout(P.settle_ms || 7000);
    await page.screenshot({ path: `${P.dir}/web-list.png` });
    await page.goto(`${base}/ui/#/vm/${P.vm}`);
    await page.waitForSelector('.chart', { timeout: T });
    await page.waitForTimeout(P.settle_ms || 7000);
    await page.screenshot({ path: `${P.dir}/web-vm.png`, fullPage: true });
    await page.goto(`${base}/ui/#/vm/${P.vm}/console`);
    await page.waitForTimeout(3000);
    await page.screenshot({ path: `${P.dir}/web-console.png` });
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true });
    const pp = await phone.newPage();
    await pp.goto(`${base}/ui/`);
    await pp.waitForSelector('tr.vm', { timeout: T });
    await pp.waitForTimeout(3000);
    await pp.screenshot({ path: `${P.dir}/web-phone.png` });
    out.phone_overflow = await pp.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
    return out;
  },

  // Everything that needs running guests, in one page load (a nested-KVM host is slow): from
  // the page, start P.tty_vm and use its console (markup typed in comes back as text), start
  // P.burn_vm and watch its CPU chart rise, pause, resume; the list against the API; the
  // phone-sized list; destroy P.burn_vm. With P.dir, the docs' pictures on the way.
  async kvm(page) {
    const out = { steps: [] };
    const t0 = Date.now();
    const { appendFileSync } = await import('node:fs');
    const step = (what) => {   // also to a file as it goes: a run cut short still says where it was
      const s = `[${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}`;
      out.steps.push(s);
      console.error(s);
      if (P.fail_dir) appendFileSync(`${P.fail_dir}/steps.txt`, `${s}\n`);
    };
    const L = P.long_ms || 180000;
    const tty = P.tty_vm, burn = P.burn_vm;
    const apiState = async (n) => (await fetch_json(`/vms/${n}`, page)).state;
    const untilApiState = async (n, st) => {
      const end = Date.now() + L;
      while (await apiState(n) !== st) {
        assert.ok(Date.now() < end, `${n} did not become ${st}`);
        await page.waitForTimeout(500);
      }
    };
    step('load');
    await page.goto(`${base}/ui/#/vm/${tty}`, { waitUntil: 'commit' });   // then what the page shows, as long as L
    await waitState(page, tty, 'shut off', L);
    step('start the console guest');
    await clickAct(page, 'start', false);
    await waitState(page, tty, 'running', L);
    await gotoHash(page, `#/vm/${tty}/console`);
    await page.waitForFunction(() => (document.querySelector('.xterm-rows') || {}).textContent?.includes('READY'), null, { timeout: L });
    step('type');
    await page.click('.term');
    await page.keyboard.type(P.typed, { delay: 30 });
    await page.keyboard.press('Enter');
    await page.waitForFunction((e) => document.querySelector('.xterm-rows').textContent.includes(e), `got: ${P.typed}`, { timeout: L });
    out.console = (await page.textContent('.xterm-rows')).replace(/\s+/g, ' ').trim().slice(-300);
    out.console_injected = await page.evaluate(() => document.querySelectorAll('.term b, .term img, .term script').length);
    await page.keyboard.type('quit', { delay: 30 });   // at once: the guest waits 50 s for a line, no more
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelector('.xterm-rows').textContent.includes('got: quit'), null, { timeout: L });
    // the test guest then says "ok serial" and knocks on the debug-exit port, which a VM of
    // petreld's does not have (it spins there): the page destroys it, as an operator would
    await page.waitForFunction(() => document.querySelector('.xterm-rows').textContent.includes('ok serial'), null, { timeout: L });
    await clickAct(page, 'destroy', true);
    await untilApiState(tty, 'shut off');
    if (P.dir) await page.screenshot({ path: `${P.dir}/web-console.png` });
    step('start the burning guest');
    await gotoHash(page, `#/vm/${burn}`);
    await waitState(page, burn, 'shut off', L);
    await clickAct(page, 'start', false);
    await waitState(page, burn, 'running', L);
    await page.waitForFunction((min) => {
      const c = document.querySelector('.chart[data-kind=cpu]');
      return c && c.dataset.last !== '' && Number(c.dataset.last) >= min;
    }, P.min_cpu, { timeout: L });
    out.cpu = await page.$eval('.chart[data-kind=cpu]', (e) => ({ last: Number(e.dataset.last), points: Number(e.dataset.points) }));
    step(`chart at ${out.cpu.last} %; pause`);
    await clickAct(page, 'pause', false);
    await waitState(page, burn, 'paused', L);
    out.paused_state = await apiState(burn);
    await clickAct(page, 'resume', false);
    await waitState(page, burn, 'running', L);
    out.resumed_state = await apiState(burn);
    step('resumed');
    if (P.dir) {
      await page.waitForTimeout(6000);   // a few samples after the resume
      await page.screenshot({ path: `${P.dir}/web-vm.png`, fullPage: true });
    }
    await page.waitForSelector('.hastatus dl', { timeout: L });
    out.status = await page.$$eval('.hastatus dt', (dts) => Object.fromEntries(dts.map((dt) => [dt.textContent, dt.nextElementSibling.textContent])));
    step('the list');
    await gotoHash(page, '#/');
    await page.waitForFunction((n) => document.querySelectorAll('tr.vm').length === n, P.vms, { timeout: L });
    await page.waitForFunction(() => [...document.querySelectorAll('tr.vm .c-cpu')].some((td) => td.textContent !== '—'), null, { timeout: L });
    out.rows = await rows(page);
    out.api = (await fetch_json('/vms', page)).map((v) => ({ name: v.name, state: v.state, vcpus: v['machine-config'].vcpu_count, mem: v['machine-config'].mem_size_mib }));
    if (P.dir) await page.screenshot({ path: `${P.dir}/web-list.png` });
    step('phone');
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(1000);
    out.phone_overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (P.dir) await page.screenshot({ path: `${P.dir}/web-phone.png` });
    await page.setViewportSize(P.viewport || { width: 1280, height: 860 });
    step('destroy');
    await gotoHash(page, `#/vm/${burn}`);
    await waitState(page, burn, 'running', L);
    await clickAct(page, 'destroy', true);
    await waitState(page, burn, 'shut off', L);
    step('done');
    out.total_s = (Date.now() - t0) / 1000;
    return out;
  },
};

// P.lean (a nested-KVM host, where starting each process costs minutes): the browser, its
// renderer and services in one process; launch bounded by the caller's timeout only.
const lean = P.lean || process.env.PETREL_E2E_LEAN === '1';
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', timeout: lean ? 0 : 180000,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', ...(lean ? ['--single-process', '--no-zygote'] : [])] });
let code = 0;
let page;
const log = [];   // the page's console and errors, for a failure's report
try {
  const ctx = await browser.newContext({ viewport: P.viewport || { width: 1280, height: 860 }, ignoreHTTPSErrors: true });
  page = await ctx.newPage();
  page.setDefaultNavigationTimeout(T);   // a page load on a slow (nested-KVM) host takes more than 30 s
  page.setDefaultTimeout(T);
  const errors = [];
  page.on('pageerror', (e) => { errors.push(String(e)); log.push(`pageerror: ${e}`); });
  page.on('console', (m) => log.push(`console.${m.type()}: ${m.text()}`));
  const at = () => `${(performance.now() / 1000).toFixed(2)} s`;
  page.on('request', (r) => log.push(`${at()} request: ${r.method()} ${r.url()}`));
  page.on('response', (r) => log.push(`${at()} response: ${r.status()} ${r.request().method()} ${r.url()}`));
  page.on('requestfailed', (r) => log.push(`requestfailed: ${r.method()} ${r.url()} ${r.failure() && r.failure().errorText}`));
  if (P.fail_dir) (await import('node:fs')).appendFileSync(`${P.fail_dir}/steps.txt`, `browser up ${(performance.now() / 1000).toFixed(1)} s after node started\n`);
  const out = await scenarios[scenario](page, ctx, browser);
  if (errors.length) out.page_errors = errors;
  console.log(JSON.stringify(out ?? {}));
} catch (e) {
  code = 1;
  // what the page showed and said, in the failure's report (and with P.fail_dir, somewhere
  // that outlives the run, with a screenshot)
  const text = page ? await page.evaluate(() => `${location.href}\n${document.body.innerText}`).catch((x) => `no text: ${x}`) : '';
  const report = `${String(e && e.stack || e)}\n\n--- page ---\n${text.slice(0, 4000)}\n\n--- log ---\n${log.slice(-60).join('\n')}\n`;
  console.log(report);
  if (P.fail_dir && page) {
    const base = `${P.fail_dir}/failed-${scenario}`;
    await page.screenshot({ path: `${base}.png`, fullPage: true, timeout: 60000 }).catch((x) => log.push(`no screenshot: ${x}`));
    const { writeFileSync } = await import('node:fs');
    writeFileSync(`${base}.txt`, report);
  }
} finally {
  await browser.close();
}
process.exit(code);
