/**
 * Runs one partner simulator until SIGTERM or SIGINT:
 *
 *   tsx connectors/simulators/main.ts --partner bank-a|bank-b|wallet [--port N] [--seed N] [--host 127.0.0.1|::1]
 *
 * Prints `<partner> listening on <url>` once it accepts connections. It binds loopback only;
 * `--in-container` (docker-compose.yml, which publishes the port on the host's loopback only)
 * also allows `--host 0.0.0.0`, the container's own interfaces.
 */
import { parseArgs } from 'node:util';

import { PARTNER_NAMES, startSimulator, type PartnerName } from './index.js';

function usage(problem: string): never {
  process.stderr.write(
    `simulator: ${problem}\nusage: tsx connectors/simulators/main.ts --partner ${PARTNER_NAMES.join('|')} [--port N] [--seed N] [--host 127.0.0.1|::1]\n`,
  );
  process.exit(2);
}

function wholeNumber(name: string, text: string | undefined, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  if (!/^[0-9]+$/.test(text) || Number(text) > max)
    usage(`--${name} must be a whole number from 0 to ${max}`);
  return Number(text);
}

const { values } = parseArgs({
  options: {
    partner: { type: 'string' },
    port: { type: 'string' },
    seed: { type: 'string' },
    host: { type: 'string' },
    'in-container': { type: 'boolean' },
  },
  strict: true,
});
if (!PARTNER_NAMES.includes(values.partner as PartnerName)) usage('--partner is required');
const containerHost = values['in-container'] === true && values.host === '0.0.0.0';
if (values.host !== undefined && values.host !== '127.0.0.1' && values.host !== '::1' && !containerHost)
  usage('--host must be a loopback address (127.0.0.1 or ::1), or 0.0.0.0 with --in-container');

const simulator = await startSimulator(values.partner as PartnerName, {
  port: wholeNumber('port', values.port, 0, 65_535),
  seed: wholeNumber('seed', values.seed, 1, 4_294_967_295),
  host: values.host as '127.0.0.1' | '::1' | '0.0.0.0' | undefined,
});
process.stdout.write(`${simulator.partner} listening on ${simulator.url}\n`);

const stop = () => {
  void simulator.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
