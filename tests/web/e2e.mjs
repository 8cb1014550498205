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

async function clickAct(page, act, confirm) {
  await page.click(`.detailactions button[data-act="${act}"]`);
  if (confirm) {
    await page.waitForSelector('dialog[open] button.ok', { timeout: T });
    await page.click('dialog[open] button.ok');
  }
}

const scenarios = {
  // The list shows what the API says; hostile text in a definition stays text.
  async list(page) {
    await page.goto(`${base}/ui/`);
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

  // Start, pause, resume and destroy from the page (a KVM host).
  async actions(page) {
    const n = P.vm;
    await page.goto(`${base}/ui/#/vm/${n}`);
    await waitState(page, n, 'shut off');
    await clickAct(page, 'start', false);
    await waitState(page, n, 'running', 120000);
    await clickAct(page, 'pause', false);
    await waitState(page, n, 'paused');
    await clickAct(page, 'resume', false);
    await waitState(page, n, 'running');
    await clickAct(page, 'destroy', true);
    await waitState(page, n, 'shut off');
    return { ok: true };
  },

  // The CPU chart rises while the guest burns CPU (a KVM host).
  async chart(page) {
    await page.goto(`${base}/ui/#/vm/${P.vm}`);
    await page.waitForSelector('.chart[data-kind=cpu]', { timeout: T });
    await page.waitForFunction((min) => {
      const c = document.querySelector('.chart[data-kind=cpu]');
      return c && c.dataset.last !== '' && Number(c.dataset.last) >= min;
    }, P.min_cpu, { timeout: P.wait_ms || 90000 });
    const c = await page.$eval('.chart[data-kind=cpu]', (e) => ({ last: Number(e.dataset.last), points: Number(e.dataset.points) }));
    if (P.screenshot) await page.screenshot({ path: P.screenshot, fullPage: true });
    return c;
  },

  // Everything that needs running guests, in one browser (a nested-KVM host is slow to start one):
  // actions on P.act_vm, the CPU chart of P.burn_vm, the console of P.tty_vm, then pictures.
  async kvm(page, ctx, browser) {
    const out = {};
    const t0 = Date.now();
    const n = P.act_vm;
    await page.goto(`${base}/ui/#/vm/${n}`);
    await waitState(page, n, 'shut off', 120000);
    await clickAct(page, 'start', false);
    await waitState(page, n, 'running', 180000);
    await clickAct(page, 'pause', false);
    await waitState(page, n, 'paused', 60000);
    out.paused_state = await (await fetch_json(`${base}/vms/${n}`, page)).state;
    await clickAct(page, 'resume', false);
    await waitState(page, n, 'running', 60000);
    await clickAct(page, 'destroy', true);
    await waitState(page, n, 'shut off', 60000);
    out.actions_s = (Date.now() - t0) / 1000;
    await page.goto(`${base}/ui/#/vm/${P.burn_vm}`);
    await page.waitForFunction((min) => {
      const c = document.querySelector('.chart[data-kind=cpu]');
      return c && c.dataset.last !== '' && Number(c.dataset.last) >= min;
    }, P.min_cpu, { timeout: 120000 });
    out.cpu = await page.$eval('.chart[data-kind=cpu]', (e) => ({ last: Number(e.dataset.last), points: Number(e.dataset.points) }));
    if (P.dir) await page.screenshot({ path: `${P.dir}/web-vm.png`, fullPage: true });
    await page.goto(`${base}/ui/#/vm/${P.tty_vm}/console`);
    await page.waitForFunction(() => document.querySelector('.xterm-rows') && document.querySelector('.xterm-rows').textContent.includes('READY'), null, { timeout: 120000 });
    await page.click('.term');
    await page.keyboard.type('hello web', { delay: 30 });
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelector('.xterm-rows').textContent.includes('got: hello web'), null, { timeout: 120000 });
    out.console = (await page.textContent('.xterm-rows')).replace(/\s+/g, ' ').slice(-200);
    if (P.dir) {
      await page.screenshot({ path: `${P.dir}/web-console.png` });
      await page.goto(`${base}/ui/`);
      await page.waitForSelector('tr.vm', { timeout: 60000 });
      await page.waitForTimeout(6000);
      await page.screenshot({ path: `${P.dir}/web-list.png` });
      const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
      const pp = await phone.newPage();
      await pp.goto(`${base}/ui/`);
      await pp.waitForSelector('tr.vm', { timeout: 60000 });
      await pp.waitForTimeout(5000);
      await pp.screenshot({ path: `${P.dir}/web-phone.png` });
      out.phone_overflow = await pp.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
    }
    out.total_s = (Date.now() - t0) / 1000;
    return out;
  },

  // Pictures of the main views for docs/.
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
};

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
let code = 0;
try {
  const ctx = await browser.newContext({ viewport: P.viewport || { width: 1280, height: 860 }, ignoreHTTPSErrors: true });
  const page = await ctx.newPage();
  page.setDefaultNavigationTimeout(T);   // a page load on a slow (nested-KVM) host takes more than 30 s
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const out = await scenarios[scenario](page, ctx, browser);
  if (errors.length) out.page_errors = errors;
  console.log(JSON.stringify(out ?? {}));
} catch (e) {
  console.log(String(e && e.stack || e));
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);
