// Builds the status page into src/Ingest/wwwroot (index.html, app.js, app.css), which the daemon serves at /.
// The output depends on the sources alone (no source maps, no paths, no dates), so the committed files can be
// compared with a fresh build: `node scripts/build.mjs --check` exits 1 when they differ.
import { createHash } from 'node:crypto';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const out = join(here, '..', '..', 'src', 'Ingest', 'wwwroot');
const check = process.argv.includes('--check');

const common = { bundle: true, minify: true, write: false, sourcemap: false, legalComments: 'none', charset: 'utf8', logLevel: 'warning', absWorkingDir: here };
const js = await esbuild.build({ ...common, entryPoints: ['src/main.ts'], format: 'iife', target: ['es2020'], platform: 'browser' });
const css = await esbuild.build({ ...common, entryPoints: ['styles.css'], loader: { '.css': 'css' } });

const files = new Map([
  ['app.js', js.outputFiles[0].contents],
  ['app.css', css.outputFiles[0].contents],
]);
// index.html names each file with the start of its SHA-256, so that a browser may keep one for good.
const version = (bytes) => createHash('sha256').update(bytes).digest('hex').slice(0, 16);
let html = await readFile(join(here, 'index.html'), 'utf8');
for (const [name, bytes] of files) html = html.replaceAll(`{{${name}}}`, version(bytes));
if (/\{\{[^}]*\}\}/.test(html)) throw new Error('index.html names a file the build does not make');
files.set('index.html', new TextEncoder().encode(html));

if (check) {
  const stale = [];
  for (const [name, bytes] of files) {
    const committed = await readFile(join(out, name)).catch(() => null);
    if (!committed || !Buffer.from(bytes).equals(committed)) stale.push(name);
  }
  if (stale.length) {
    console.error(`src/Ingest/wwwroot differs from a fresh build of clients/status-page: ${stale.join(', ')}; run npm run build and commit`);
    process.exit(1);
  }
  console.log('src/Ingest/wwwroot matches its sources');
} else {
  await mkdir(out, { recursive: true });
  for (const [name, bytes] of files) await writeFile(join(out, name), bytes);
  console.log(`wrote ${[...files.keys()].join(', ')} to src/Ingest/wwwroot`);
}
