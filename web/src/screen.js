// A VM's screen in the page: noVNC (@novnc/novnc, pinned to 1.4.0: later releases' CommonJS
// build has a top-level await esbuild cannot bundle) over petreld's WebSocket (GET
// /vms/NAME/vnc, Upgrade: websocket), which relays the worker's VNC server. Scaled to the tab;
// admins type and click, read-only users watch (noVNC's viewOnly, and petreld drops their input
// anyway). Loaded on demand (app.js imports this file when the tab opens).
import RFB from '@novnc/novnc/lib/rfb.js';
import { csrfToken, vmPath } from './api.js';

// X keysyms and the KeyboardEvent codes noVNC turns into scan codes (QEMU's extended key event)
const KEYS = {
  Control_L: [0xffe3, 'ControlLeft'], Alt_L: [0xffe9, 'AltLeft'], Delete: [0xffff, 'Delete'],
  BackSpace: [0xff08, 'Backspace'], Tab: [0xff09, 'Tab'], Escape: [0xff1b, 'Escape'],
  Super_L: [0xffeb, 'MetaLeft'], F1: [0xffbe, 'F1'], F2: [0xffbf, 'F2'], F7: [0xffc4, 'F7'],
  Print: [0xff61, 'PrintScreen'],
};

// The combinations of the menu: what a browser or the host would take for itself.
export const COMBOS = {
  'Ctrl-Alt-Del': ['Control_L', 'Alt_L', 'Delete'],
  'Ctrl-Alt-Backspace': ['Control_L', 'Alt_L', 'BackSpace'],
  'Ctrl-Alt-F1': ['Control_L', 'Alt_L', 'F1'],
  'Ctrl-Alt-F2': ['Control_L', 'Alt_L', 'F2'],
  'Ctrl-Alt-F7': ['Control_L', 'Alt_L', 'F7'],
  'Alt-Tab': ['Alt_L', 'Tab'],
  'Ctrl-Esc': ['Control_L', 'Escape'],
  'Super': ['Super_L'],
  'Print Screen': ['Print'],
};

export class VmScreen {
  constructor(container, name, { readOnly = false, onStatus = () => {} } = {}) {
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    const url = `${proto}://${location.host}${vmPath(name, 'vnc')}?csrf=${encodeURIComponent(csrfToken() || '')}`;
    this.rfb = new RFB(container, url, { shared: true });
    this.rfb.scaleViewport = true;     // the whole screen in the tab
    this.rfb.resizeSession = false;    // the guest picks its mode
    this.rfb.viewOnly = readOnly;
    this.rfb.focusOnClick = true;
    this.rfb.addEventListener('connect', () => onStatus('connected'));
    this.rfb.addEventListener('disconnect', (e) => onStatus(e.detail && e.detail.clean ? 'closed' : 'connection lost'));
    this.rfb.addEventListener('desktopname', (e) => onStatus(`connected: ${e.detail.name}`));
  }

  // Press the keys in order, release them in reverse.
  combo(label) {
    const keys = COMBOS[label];
    if (!keys || this.rfb.viewOnly) return;
    for (const k of keys) this.rfb.sendKey(KEYS[k][0], KEYS[k][1], true);
    for (const k of [...keys].reverse()) this.rfb.sendKey(KEYS[k][0], KEYS[k][1], false);
  }

  focus() { this.rfb.focus(); }

  destroy() {
    try { this.rfb.disconnect(); } catch { /* gone */ }
  }
}
