// Builds testdata/js/app four ways into OUTDIR (argv[2]), each as
// OUTDIR/<name>/app.min.js + app.min.js.map:
//   esbuild  esbuild --bundle --minify --sourcemap
//   inline   the same with the map inlined (data: URL)
//   terser   esbuild's unminified bundle, then terser with that bundle's map
//            as input map (a composed map)
//   rollup   rollup + @rollup/plugin-terser
//   webpack  webpack 5 (Node API), production mode (terser-webpack-plugin)
// argv[3] (optional) is a comma-separated list of the builds to make.
// The node packages come from STACKLENS_NODE_MODULES (testdata/node/node_modules).
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(join(process.env.STACKLENS_NODE_MODULES, 'noop.js'));
const here = dirname(fileURLToPath(import.meta.url));
const entry = join(here, 'app', 'src', 'cli.js');
const out = process.argv[2];
const only = process.argv[3] ? process.argv[3].split(',') : null;

async function buildEsbuild() {
  const esbuild = require('esbuild');
  const dir = join(out, 'esbuild');
  await esbuild.build({
    entryPoints: [entry], bundle: true, minify: true, sourcemap: true,
    platform: 'node', format: 'cjs', target: 'node20', outfile: join(dir, 'app.min.js'), logLevel: 'error',
  });
}

// inline: esbuild with the map inlined as a data: URL; the decoded map is
// also written beside it, for the reference lookups only (tests upload just
// app.min.js).
async function buildInline() {
  const esbuild = require('esbuild');
  const dir = join(out, 'inline');
  await esbuild.build({
    entryPoints: [entry], bundle: true, minify: true, sourcemap: 'inline',
    platform: 'node', format: 'cjs', target: 'node20', outfile: join(dir, 'app.min.js'), logLevel: 'error',
  });
  const code = readFileSync(join(dir, 'app.min.js'), 'utf8');
  const b64 = code.match(/sourceMappingURL=data:application\/json;base64,(\S+)/)[1];
  writeFileSync(join(dir, 'app.min.js.map'), Buffer.from(b64, 'base64'));
}

async function buildTerser() {
  const esbuild = require('esbuild');
  const { minify } = require('terser');
  const dir = join(out, 'terser');
  mkdirSync(dir, { recursive: true });
  await esbuild.build({
    entryPoints: [entry], bundle: true, minify: false, sourcemap: true,
    platform: 'node', format: 'cjs', target: 'node20', outfile: join(dir, 'app.js'), logLevel: 'error',
  });
  const code = readFileSync(join(dir, 'app.js'), 'utf8');
  const inputMap = readFileSync(join(dir, 'app.js.map'), 'utf8');
  const result = await minify({ 'app.js': code }, {
    compress: true, mangle: true,
    sourceMap: { content: inputMap, url: 'app.min.js.map', filename: 'app.min.js', includeSources: true },
  });
  writeFileSync(join(dir, 'app.min.js'), result.code);
  writeFileSync(join(dir, 'app.min.js.map'), result.map);
}

async function buildRollup() {
  const { rollup } = require('rollup');
  const terser = require('@rollup/plugin-terser');
  const bundle = await rollup({ input: entry, plugins: [terser()], onwarn() {} });
  await bundle.write({ file: join(out, 'rollup', 'app.min.js'), format: 'cjs', sourcemap: true });
  await bundle.close();
}

function buildWebpack() {
  const webpack = require('webpack');
  return new Promise((resolve, reject) => {
    webpack({
      mode: 'production', target: 'node20', entry, devtool: 'source-map', context: join(here, 'app'),
      output: { path: join(out, 'webpack'), filename: 'app.min.js' },
    }, (err, stats) => {
      if (err) return reject(err);
      if (stats.hasErrors()) return reject(new Error(stats.toString('errors-only')));
      resolve();
    });
  });
}

// big: terser + rollup + axios in one minified bundle, a ~1.5 MB file with a
// ~5 MB map (sourcesContent included), for the warm-lookup benchmark. Built
// only when asked for by name.
async function buildBig() {
  const esbuild = require('esbuild');
  await esbuild.build({
    stdin: { contents: "require('terser'); require('rollup'); require('axios');", resolveDir: process.env.STACKLENS_NODE_MODULES },
    bundle: true, minify: true, sourcemap: true, platform: 'node', format: 'cjs', target: 'node20',
    outfile: join(out, 'big', 'app.min.js'), logLevel: 'error', external: ['fsevents'],
  });
}

const builds = { esbuild: buildEsbuild, inline: buildInline, terser: buildTerser, rollup: buildRollup, webpack: buildWebpack, big: buildBig };
for (const [name, build] of Object.entries(builds)) {
  if (only ? only.includes(name) : name !== 'big') {
    await build();
  }
}
