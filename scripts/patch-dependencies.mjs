#!/usr/bin/env node
// Applies PayFlow's fixes to installed dependencies; `postinstall` runs it after `npm ci` and
// `npm install`, and running it again changes nothing. Each fix names the package version and
// the SHA-256 of the file it replaces: a different version or file stops the install with a
// message naming it, so an upgrade can never drop a fix silently. The runtime checks the fix
// again before it consumes anything (processors/runtime/kafka/read-committed.ts).
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const FIXES = [
  {
    package: 'kafkajs',
    version: '2.2.4',
    file: 'src/consumer/filterAbortedMessages.js',
    originalSha256: '54ce50f2a41ee1686da8b73bf8b502c7dd07c9d7cb0a494cdb36a7fc536ced8e',
    replacement: 'scripts/patches/kafkajs-2.2.4/filterAbortedMessages.js',
    why: 'read_committed consumers received records of aborted transactions',
  },
  {
    package: 'kafkajs',
    version: '2.2.4',
    file: 'src/network/requestQueue/index.js',
    originalSha256: 'b55986089c14f8f7bfc377922e2e65b3e4c1e7c7af2752d3b10a75dfe9e9260c',
    replacement: 'scripts/patches/kafkajs-2.2.4/requestQueue.js',
    why: 'an idle connection re-armed a negative timer every millisecond (TimeoutNegativeWarning on Node 24)',
  },
];

const sha256 = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');

let failed = false;
for (const fix of FIXES) {
  const packageDir = join(root, 'node_modules', fix.package);
  if (!existsSync(join(packageDir, 'package.json'))) continue; // not installed: nothing to fix
  const { version } = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
  const target = join(packageDir, fix.file);
  const replacement = join(root, fix.replacement);
  if (version !== fix.version) {
    console.error(
      `patch-dependencies: ${fix.package} is ${version}, the fix (${fix.why}) is for ${fix.version}: ` +
        `check whether ${version} still needs ${fix.replacement}, then update scripts/patch-dependencies.mjs`,
    );
    failed = true;
    continue;
  }
  const current = sha256(target);
  if (current === sha256(replacement)) continue;
  if (current !== fix.originalSha256) {
    console.error(
      `patch-dependencies: ${fix.package}/${fix.file} is not the file the fix replaces (sha256 ${current})`,
    );
    failed = true;
    continue;
  }
  copyFileSync(replacement, target);
  console.log(`patch-dependencies: ${fix.package} ${fix.version} ${fix.file}: ${fix.why} (fixed)`);
}
if (failed) process.exit(1);
