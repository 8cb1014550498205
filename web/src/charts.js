// The live charts of one VM (uPlot: small, fast, canvas): CPU %, memory, disk and network rates.
import uPlot from 'uplot';
import { fmtBytes, h } from './dom.js';

const KINDS = [
  { kind: 'cpu', title: 'CPU (% of host)', series: [['cpu', 'CPU %', '#d9534f']], fmt: (v) => `${v.toFixed(1)} %` },
  { kind: 'mem', title: 'Memory (MiB)', series: [['mem', 'MiB', '#1f77b4']], fmt: (v) => `${v.toFixed(0)} MiB` },
  { kind: 'disk', title: 'Disk (bytes/s)', series: [['diskR', 'read', '#2ca02c'], ['diskW', 'write', '#ff7f0e']], fmt: (v) => `${fmtBytes(v)}/s` },
  { kind: 'net', title: 'Network (bytes/s)', series: [['netRx', 'received', '#9467bd'], ['netTx', 'sent', '#8c564b']], fmt: (v) => `${fmtBytes(v)}/s` },
];

export class VmCharts {
  constructor(container) {
    this.container = container;
    this.plots = [];
    for (const k of KINDS) {
      const now = h('span', { class: 'now' }, '—');
      const box = h('div', { class: 'chart', 'data-kind': k.kind }, h('div', { class: 'chart-title' }, k.title, ' ', now));
      container.append(box);
      const opts = {
        width: this.width(), height: 140,
        legend: { show: k.series.length > 1 },
        cursor: { show: false },
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(max || 0, k.kind === 'cpu' ? 10 : 1) * 1.1] } },
        axes: [{}, { size: 60, values: (u, vals) => vals.map((v) => (k.kind === 'mem' || k.kind === 'cpu' ? (v < 10 ? v.toFixed(1) : String(Math.round(v))) : fmtBytes(v))) }],
        series: [{}, ...k.series.map(([, label, stroke]) => ({ label, stroke, width: 2, spanGaps: false }))],
      };
      const plot = new uPlot(opts, [[], ...k.series.map(() => [])], box);
      this.plots.push({ k, plot, box, now });
    }
    this.onResize = () => { for (const p of this.plots) p.plot.setSize({ width: this.width(), height: 140 }); };
    window.addEventListener('resize', this.onResize);
  }

  width() {
    const w = this.container.clientWidth || 600;
    return Math.max(260, w >= 900 ? Math.floor(w / 2) - 24 : w - 16);
  }

  update(s) {
    if (!s) return;
    for (const { k, plot, box, now } of this.plots) {
      plot.setData([s.t.slice(), ...k.series.map(([key]) => s[key].slice())]);
      const last = k.series.map(([key]) => s[key][s[key].length - 1]).find((v) => v != null);
      now.textContent = last != null ? k.fmt(last) : '—';
      box.dataset.last = last != null ? String(last) : '';
      box.dataset.points = String(s.t.length);
    }
  }

  destroy() {
    window.removeEventListener('resize', this.onResize);
    for (const p of this.plots) p.plot.destroy();
  }
}

// A small sparkline of the CPU share for the list (a canvas: cheap for many VMs).
export function sparkline(canvas, values) {
  const ctx = canvas.getContext('2d');
  const w = canvas.width, hgt = canvas.height;
  ctx.clearRect(0, 0, w, hgt);
  const vals = values.slice(-40);
  const max = Math.max(10, ...vals.filter((v) => v != null));
  ctx.strokeStyle = '#d9534f';
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  let started = false;
  vals.forEach((v, i) => {
    if (v == null) { started = false; return; }
    const x = (i / 39) * (w - 2) + 1, y = hgt - 1 - (v / max) * (hgt - 2);
    if (started) ctx.lineTo(x, y); else ctx.moveTo(x, y);
    started = true;
  });
  ctx.stroke();
}
