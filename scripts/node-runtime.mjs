#!/usr/bin/env node
// The Node.js PayFlow runs on: one exact version, whatever node runs npm itself.
//
//   node scripts/node-runtime.mjs           fetch (first time), verify, link as node_modules/.bin/node
//   node scripts/node-runtime.mjs --check   exit 1 unless the node running it is the pinned one
//
// The binary is the npm registry's `node-<platform>-<arch>` package (the Node.js project's own
// build), fetched with `npm pack`, checked against the integrity pinned below, and unpacked once
// under .payflow/cache/node/ (kept across `npm ci`). `postinstall` runs this after `npm ci` and
// `npm install`; running it again changes nothing. npm puts node_modules/.bin first on the PATH of
// every `npm run`, `npm test` and `npx` command, so tsx, the tests, `npm start`, the processors
// and the bench all run on the pinned node, and so does every child they start
// (process.execPath). When the node running npm is already the pinned version nothing is fetched.
// Plain JavaScript for any node that runs npm 11.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const NODE_VERSION = '24.22.3';

/** `dist.integrity` of node-<platform>-<arch>@NODE_VERSION on registry.npmjs.org. */
const INTEGRITY = {
  'linux-x64':
    'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==',
  'linux-arm64':
    'sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw==',
};

const FETCH_TIMEOUT_MS = 600_000;
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const payflowHome = process.env.PAYFLOW_HOME ? resolve(process.env.PAYFLOW_HOME) : join(root, '.payflow');

const cacheRoot = join(payflowHome, 'cache', 'node');
const realpathOrSelf = (path) => (existsSync(path) ? realpathSync(path) : path);

const say = (message) => console.log(`node-runtime: ${message}`);
const fail = (message) => {
  console.error(`node-runtime: FAILED: ${message}`);
  process.exit(1);
};

function run(command, args, options) {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: FETCH_TIMEOUT_MS, ...options });
  if (result.error) fail(`${command} ${args.join(' ')}: ${result.error.message}`);
  if (result.status !== 0) {
    fail(`${command} ${args.join(' ')} exited with ${result.status}: ${result.stderr.trim()}`);
  }
  return result.stdout;
}

/** npm itself: the one running this script when it is a lifecycle script, else npm on PATH. */
function npm(args, cwd) {
  const cli = process.env.npm_execpath;
  return cli && isAbsolute(cli) && cli.endsWith('.js')
    ? run(process.execPath, [cli, ...args], { cwd })
    : run('npm', args, { cwd });
}

/** The verified binary for this platform, fetched and unpacked when it is not cached yet. */
function ensureBinary(platform, integrity) {
  const dir = join(cacheRoot, `v${NODE_VERSION}-${platform}`);
  const binary = join(dir, 'bin', 'node');
  const marker = join(dir, 'integrity');
  if (existsSync(binary) && existsSync(marker) && readFileSync(marker, 'utf8') === integrity) {
    return binary;
  }
  const spec = `node-${platform}@${NODE_VERSION}`;
  const staging = `${dir}.${process.pid}.part`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  say(`fetching ${spec} from the npm registry`);
  npm(['pack', spec, '--pack-destination', staging, '--silent', '--no-audit', '--no-fund'], staging);
  const tarball = join(staging, `node-${platform}-${NODE_VERSION}.tgz`);
  const actual = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
  if (actual !== integrity) {
    rmSync(staging, { recursive: true, force: true });
    fail(`${spec}: integrity ${actual}, expected ${integrity}`);
  }
  run('tar', ['-xzf', tarball, '-C', staging, '--strip-components=1', 'package/bin/node']);
  rmSync(tarball);
  const version = run(join(staging, 'bin', 'node'), ['--version']).trim();
  if (version !== `v${NODE_VERSION}`) fail(`${spec} runs as ${version}`);
  writeFileSync(join(staging, 'integrity'), integrity);
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
  say(`node v${NODE_VERSION} verified (${integrity.slice(0, 23)}…) in ${relative(root, dir)}`);
  return binary;
}

/** node_modules/.bin/node → the binary, relative so the checkout can move. */
function link(binary) {
  const binDir = join(root, 'node_modules', '.bin');
  mkdirSync(binDir, { recursive: true });
  const target = join(binDir, 'node');
  const staging = `${target}.${process.pid}`;
  rmSync(staging, { force: true });
  symlinkSync(relative(binDir, binary), staging);
  renameSync(staging, target);
}

function ensure() {
  const running = process.versions.node;
  const platform = `${process.platform}-${process.arch}`;
  const integrity = INTEGRITY[platform];
  // The pinned version on the machine's own PATH needs no copy; the cached one (npm running on
  // it from an earlier link, as in `npm test`'s own `npm ci`) needs its link back.
  if (running === NODE_VERSION && !process.execPath.startsWith(realpathOrSelf(cacheRoot))) {
    say(`node v${NODE_VERSION} (the one running npm)`);
    return;
  }
  if (!integrity) {
    fail(
      `no pinned Node.js build for ${platform}: install Node.js ${NODE_VERSION} and run npm with it ` +
        `(this is node ${running})`,
    );
  }
  link(ensureBinary(platform, integrity));
  say(
    `node_modules/.bin/node is v${NODE_VERSION}: npm scripts and npx run on it (this step ran on v${running})`,
  );
}

function check() {
  if (process.versions.node !== NODE_VERSION) {
    fail(
      `this is node v${process.versions.node} (${process.execPath}); PayFlow runs on v${NODE_VERSION}: ` +
        'run it through npm (npm test, npm start, npx …) after `npm ci`',
    );
  }
  say(`node v${NODE_VERSION} (${process.execPath})`);
}

if (process.argv[2] === '--check') check();
else if (process.argv[2] === undefined) ensure();
else fail(`unknown argument ${process.argv[2]} (known: --check)`);
