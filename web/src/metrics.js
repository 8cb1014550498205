// Live figures per VM from petreld's metrics: GET /stats (CPU time, memory, I/O of every VM)
// every POLL_MS, and GET /vms/NAME/io (disk and network bytes) for the VM on screen. Rates are
// differences between samples; HISTORY samples are kept for the charts.
import { api, vmPath } from './api.js';

export const POLL_MS = 2000;
const HISTORY = 150; // 5 minutes

export class Metrics {
  constructor(hostCpus) {
    this.cpus = hostCpus || 1;
    this.last = new Map();     // name -> the last /stats entry, with t
    this.series = new Map();   // name -> {t:[], cpu:[], mem:[], diskR:[], diskW:[], netRx:[], netTx:[]}
    this.lastIo = new Map();   // name -> the last /io sample, with t
    this.now = new Map();      // name -> {cpu, mem}
    this.listeners = new Set();
  }

  seriesOf(name) {
    let s = this.series.get(name);
    if (!s) {
      s = { t: [], cpu: [], mem: [], diskR: [], diskW: [], netRx: [], netTx: [] };
      this.series.set(name, s);
    }
    return s;
  }

  push(arr, v) {
    arr.push(v);
    if (arr.length > HISTORY) arr.shift();
  }

  async sample(detailName) {
    const t = Date.now() / 1000;
    const stats = await api('GET', '/stats');
    for (const st of stats) {
      const prev = this.last.get(st.name);
      this.last.set(st.name, { ...st, t });
      if (st.cpu_ns == null) { this.now.delete(st.name); continue; }
      const s = this.seriesOf(st.name);
      let cpu = null;
      if (prev && prev.cpu_ns != null && t > prev.t && st.cpu_ns >= prev.cpu_ns) {
        // share of the whole host: CPU seconds over elapsed seconds times the host's CPUs
        cpu = ((st.cpu_ns - prev.cpu_ns) / 1e9 / (t - prev.t) / this.cpus) * 100;
      }
      const mem = st.memory_bytes >= 0 ? st.memory_bytes / 1048576 : null;
      this.now.set(st.name, { cpu, mem });
      if (detailName !== st.name) {
        this.push(s.t, t); this.push(s.cpu, cpu); this.push(s.mem, mem);
        this.push(s.diskR, null); this.push(s.diskW, null); this.push(s.netRx, null); this.push(s.netTx, null);
      } else {
        let io = null;
        try { io = await api('GET', vmPath(st.name, 'io')); } catch { io = null; }
        const pio = this.lastIo.get(st.name);
        const rate = (a, b) => (a != null && b != null && a >= 0 && b >= 0 && a >= b && pio && t > pio.t ? (a - b) / (t - pio.t) : null);
        const sum = (o, k) => (o && o.net ? o.net.reduce((acc, n) => (n[k] >= 0 ? acc + n[k] : acc), 0) : null);
        this.push(s.t, t); this.push(s.cpu, cpu); this.push(s.mem, mem);
        this.push(s.diskR, rate(io && io.disk_read_bytes, pio && pio.disk_read_bytes));
        this.push(s.diskW, rate(io && io.disk_write_bytes, pio && pio.disk_write_bytes));
        // a tap's rx is what the guest sent, its tx what the guest received
        this.push(s.netRx, rate(sum(io, 'tx_bytes'), sum(pio, 'tx_bytes')));
        this.push(s.netTx, rate(sum(io, 'rx_bytes'), sum(pio, 'rx_bytes')));
        if (io) this.lastIo.set(st.name, { ...io, t });
      }
    }
    for (const fn of this.listeners) fn();
  }
}
