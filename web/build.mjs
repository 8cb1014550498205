// Builds the page into dist/ (what petreld serves with --web-dir, and meson install puts in
// <datadir>/petrel/web): one bundled script and one stylesheet, so the page loads nothing from
// elsewhere at run time (the screen tab's noVNC is a second chunk, fetched from here when opened). Run by scripts/setup.sh after `npm ci`: `npm run build`.
import * as esbuild from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';

const out = 'dist';
await rm(out, { recursive: true, force: true });
await mkdir(`${out}/assets`, { recursive: true });
await esbuild.build({
  entryPoints: { app: 'src/app.js' },
  bundle: true,
  splitting: true, // noVNC (the screen tab) in a chunk of its own, loaded when the tab opens
  chunkNames: 'chunk-[hash]',
  minify: true,
  format: 'esm',
  target: ['es2020'],
  outdir: `${out}/assets`,
  legalComments: 'linked', // the packages' licences in app.js.LEGAL.txt / app.css.LEGAL.txt
  logLevel: 'warning',
});
await copyFile('src/index.html', `${out}/index.html`);
await copyFile('src/icon.svg', `${out}/icon.svg`);
