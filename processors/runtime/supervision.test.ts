import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Registry } from 'prom-client';

import { ComponentHealth, backoffDelayMs, Supervisor, type SupervisorHooks } from './supervision.js';

const FAST = { initialDelayMs: 1, maxDelayMs: 4 };

async function eventually(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** A component whose runs the test can crash; counts starts and stops. */
function fakeComponent(options: { failStarts?: number } = {}) {
  const state = { starts: 0, stops: 0, running: 0, failStarts: options.failStarts ?? 0 };
  const hooks: SupervisorHooks[] = [];
  return {
    state,
    hooks,
    start: (h: SupervisorHooks) => {
      state.starts += 1;
      if (state.starts > 1 && state.failStarts > 0) {
        state.failStarts -= 1;
        return Promise.reject(new Error('broker unreachable'));
      }
      hooks.push(h);
      state.running += 1;
      h.up();
      return Promise.resolve({
        stop: () => {
          state.stops += 1;
          state.running -= 1;
          return Promise.resolve();
        },
      });
    },
  };
}

/** A started supervisor of `processor:ledger` with fast restarts. */
async function superviseLedger(
  health: ComponentHealth,
  component: ReturnType<typeof fakeComponent>,
): Promise<Supervisor> {
  const supervisor = new Supervisor({
    component: 'processor:ledger',
    health,
    start: component.start,
    backoff: FAST,
  });
  await supervisor.start();
  return supervisor;
}

describe('component supervision', () => {
  test('a component that crashes with any error is stopped and started again, and is up afterwards', async () => {
    const health = new ComponentHealth();
    const component = fakeComponent();
    const supervisor = await superviseLedger(health, component);
    assert.equal(health.status('processor:ledger')?.state, 'up');
    component.hooks[0]!.crashed(new Error('KafkaJSNonRetriableError: Failed to find group coordinator'));
    assert.equal(health.status('processor:ledger')?.state, 'down');
    assert.match(health.describeNotUp() ?? '', /processor:ledger down \(Error: KafkaJSNonRetriableError/);
    await eventually(() => component.state.starts === 2, 'the restart');
    assert.equal(health.status('processor:ledger')?.state, 'up');
    assert.equal(component.state.stops, 1, 'the crashed run was stopped');
    assert.equal(component.state.running, 1, 'exactly one run is alive');
    await supervisor.stop();
    assert.equal(component.state.running, 0);
  });

  test('a component reporting a program error is failed, logged as an error and not restarted; a rejoin does not turn it up again', async () => {
    const registry = new Registry();
    const errors: Record<string, unknown>[] = [];
    const health = new ComponentHealth({
      registry,
      log: { warn: () => undefined, info: () => undefined, error: (fields) => errors.push(fields) },
    });
    const component = fakeComponent();
    const supervisor = await superviseLedger(health, component);
    component.hooks[0]!.failed(new Error('ledger partition 2 stopped at payments.validated offset 7'));
    component.hooks[0]!.up();
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(health.status('processor:ledger')?.state, 'failed');
    assert.match(health.describeNotUp() ?? '', /processor:ledger failed \(Error: ledger partition 2 stopped/);
    assert.equal(component.state.starts, 1, 'not restarted');
    assert.deepEqual(
      errors.map((fields) => fields.component),
      ['processor:ledger'],
    );
    assert.match(await registry.metrics(), /payflow_component_up\{component="processor:ledger"\} 0/);
    await supervisor.stop();
  });

  test('restarts that fail are retried with capped backoff until one succeeds, the component down meanwhile', async () => {
    const health = new ComponentHealth();
    const component = fakeComponent({ failStarts: 3 });
    const supervisor = new Supervisor({
      component: 'read-model:payments',
      health,
      start: component.start,
      backoff: FAST,
    });
    await supervisor.start();
    component.hooks[0]!.crashed(new Error('connection lost'));
    await eventually(() => component.state.starts === 5, 'three failed restarts and a fourth that works');
    assert.equal(health.status('read-model:payments')?.state, 'up');
    assert.equal(component.state.running, 1);
    await supervisor.stop();
  });

  test('a crash reported by a run that was already replaced is ignored', async () => {
    const health = new ComponentHealth();
    const component = fakeComponent();
    const supervisor = new Supervisor({ component: 'c', health, start: component.start, backoff: FAST });
    await supervisor.start();
    component.hooks[0]!.crashed(new Error('first'));
    await eventually(() => component.state.starts === 2, 'the restart');
    component.hooks[0]!.crashed(new Error('late news from the old run'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(component.state.starts, 2);
    await supervisor.stop();
  });

  test('a crash during stop is not restarted, and stop leaves no run alive', async () => {
    const health = new ComponentHealth();
    const component = fakeComponent();
    const supervisor = new Supervisor({ component: 'c', health, start: component.start, backoff: FAST });
    await supervisor.start();
    const stopping = supervisor.stop();
    component.hooks[0]!.crashed(new Error('disconnected'));
    await stopping;
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(component.state.starts, 1);
    assert.equal(component.state.running, 0);
    assert.equal(health.status('c'), undefined, 'a component stopped on purpose is forgotten');
  });

  test('the backoff doubles from its initial delay and stays at its cap', () => {
    const policy = { initialDelayMs: 250, maxDelayMs: 30_000 };
    assert.deepEqual(
      [1, 2, 3, 8, 9, 50].map((attempt) => backoffDelayMs(policy, attempt)),
      [250, 500, 1_000, 30_000, 30_000, 30_000],
    );
  });

  test('health logs a component going down with its reason and coming back with how long it was down, and the gauge says 0 or 1', async () => {
    let now = 1_000;
    const logged: { fields: Record<string, unknown>; message: string }[] = [];
    const log = {
      warn: (fields: Record<string, unknown>, message: string) => logged.push({ fields, message }),
      info: () => undefined,
    };
    const registry = new Registry();
    const health = new ComponentHealth({ registry, log, now: () => now });
    health.report('kafka', 'up');
    health.report('kafka', 'down', 'connect ECONNREFUSED 127.0.0.1:9092');
    health.report('kafka', 'down', 'connect ECONNREFUSED 127.0.0.1:9092');
    const gauge = async () =>
      (await registry.getSingleMetric('payflow_component_up')!.get()).values[0]?.value;
    assert.equal(await gauge(), 0);
    now = 8_500;
    health.report('kafka', 'up');
    assert.equal(await gauge(), 1);
    assert.deepEqual(logged, [
      {
        fields: { component: 'kafka', reason: 'connect ECONNREFUSED 127.0.0.1:9092' },
        message: 'component down',
      },
      { fields: { component: 'kafka', downMs: 7_500 }, message: 'component recovered' },
    ]);
    health.report('processor:dedupe', 'starting');
    assert.deepEqual(
      health.notUp(['processor:']).map((s) => s.component),
      ['processor:dedupe'],
    );
    assert.equal(health.describeNotUp(['read-model:']), undefined);
  });
});
