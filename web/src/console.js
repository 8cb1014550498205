// A VM's serial console in the page: xterm.js (a real terminal emulator) over petreld's
// WebSocket (GET /vms/NAME/console, Upgrade: websocket). Console output is bytes written to
// the terminal, never markup; keys typed go back as messages (readonly users only watch).
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { csrfToken, vmPath } from './api.js';

export class VmConsole {
  constructor(container, name, { readOnly = false, onStatus = () => {} } = {}) {
    this.term = new Terminal({ convertEol: true, cursorBlink: true, fontSize: 13, scrollback: 5000, disableStdin: readOnly });
    this.fit = new FitAddon();
    this.term.loadAddon(this.fit);
    this.term.open(container);
    this.fit.fit();
    this.onResize = () => this.fit.fit();
    window.addEventListener('resize', this.onResize);
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    const url = `${proto}://${location.host}${vmPath(name, 'console')}?csrf=${encodeURIComponent(csrfToken() || '')}`;
    this.ws = new WebSocket(url);
    this.ws.binaryType = 'arraybuffer';
    this.ws.onopen = () => onStatus('connected');
    this.ws.onclose = () => onStatus('closed');
    this.ws.onerror = () => onStatus('error');
    this.ws.onmessage = (ev) => {
      this.term.write(typeof ev.data === 'string' ? ev.data : new Uint8Array(ev.data));
    };
    if (!readOnly) {
      this.term.onData((d) => { if (this.ws.readyState === WebSocket.OPEN) this.ws.send(new TextEncoder().encode(d)); });
    }
  }

  focus() { this.term.focus(); }

  destroy() {
    window.removeEventListener('resize', this.onResize);
    try { this.ws.close(); } catch { /* gone */ }
    this.term.dispose();
  }
}
