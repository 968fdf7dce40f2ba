import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import {
  harness,
  listening,
  parseRawResponse,
  producerHeaders,
  testConfig,
  token,
  validPayment,
} from './test-support.js';

const STALLED = 1_000;

/** Opens `count` connections from 127.0.0.1, each sending a request it never finishes. */
async function stall(port: number, count: number, jwt: string): Promise<Socket[]> {
  const sockets: Socket[] = [];
  const opened: Promise<void>[] = [];
  for (let index = 0; index < count; index += 1) {
    const socket = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' });
    socket.on('error', () => undefined);
    sockets.push(socket);
    const head = 'POST /v1/payments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n';
    // A third stop inside the headers, a third send no token and half a body, a third a
    // valid token and half a body.
    const kind = index % 3;
    const text =
      kind === 0
        ? head
        : `${head}${kind === 2 ? `Authorization: Bearer ${jwt}\r\nIdempotency-Key: s-${index}\r\n` : ''}` +
          'Content-Length: 1000\r\n\r\n{"senderAccountId": "acc-';
    opened.push(
      new Promise((resolve) => {
        socket.once('connect', () => socket.write(text, () => resolve()));
        socket.once('close', () => resolve());
      }),
    );
  }
  await Promise.all(opened);
  return sockets;
}

/** A keep-alive client on its own loopback address. */
function wellBehavedClient(port: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const send = (method: string, path: string, headers: Record<string, string>, body?: string) =>
    new Promise<{ statusCode: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port, localAddress: '127.0.0.2', agent, method, path, headers, timeout: 15_000 },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.end(body);
    });
  return { send, close: () => agent.destroy() };
}

describe('slow and idle clients', () => {
  it('1,000 stalled connections from one address do not stop a well-behaved client’s payments', async (t) => {
    const h = await harness({
      config: testConfig({ PAYFLOW_HTTP_MAX_IN_FLIGHT: '100', PAYFLOW_HTTP_MAX_CONNECTIONS_PER_IP: '50' }),
    });
    const port = await listening(h.app);
    const sockets = await stall(port, STALLED, await token());
    const client = wellBehavedClient(port);
    t.after(async () => {
      client.close();
      for (const socket of sockets) socket.destroy();
      await h.app.close();
    });

    const started = Date.now();
    for (let index = 0; index < 20; index += 1) {
      const headers = { ...(await producerHeaders(`good-${index}`)), 'content-type': 'application/json' };
      const response = await client.send('POST', '/v1/payments', headers, JSON.stringify(validPayment));
      assert.equal(response.statusCode, 202, response.body);
    }
    const ready = await client.send('GET', '/readyz', {});
    assert.equal(ready.statusCode, 200, ready.body);
    // Generous: 20 payments on a busy 2-core machine, well inside the stalled clients' timeout.
    assert.ok(Date.now() - started < 8_000, `the payments took ${Date.now() - started} ms`);
    assert.equal(h.publisher.payments.length, 20, 'a stalled request was executed');
  });

  it('a connection over the per-address cap is answered 503 problem+json and closed', async (t) => {
    const h = await harness({ config: testConfig({ PAYFLOW_HTTP_MAX_CONNECTIONS_PER_IP: '2' }) });
    const port = await listening(h.app);
    const held = [connect({ host: '127.0.0.1', port }), connect({ host: '127.0.0.1', port })];
    t.after(async () => {
      for (const socket of held) socket.destroy();
      await h.app.close();
    });
    await Promise.all(held.map((socket) => new Promise((resolve) => socket.once('connect', resolve))));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const third = connect({ host: '127.0.0.1', port });
    third.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    let text = '';
    third.setEncoding('utf8');
    third.on('data', (chunk: string) => (text += chunk));
    await new Promise((resolve) => third.once('close', resolve));
    const response = parseRawResponse(text);
    assert.equal(response.statusCode, 503);
    assert.match(response.headers['content-type'] ?? '', /^application\/problem\+json/);
    assert.equal(response.headers['retry-after'], '5');
  });

  it('headers and bodies not received within their timeouts get 408 problem+json and the connection closes', async (t) => {
    const h = await harness({
      config: testConfig({
        PAYFLOW_HTTP_HEADERS_TIMEOUT_MS: '1000',
        PAYFLOW_HTTP_REQUEST_TIMEOUT_MS: '1500',
      }),
    });
    t.after(() => h.app.close());
    const port = await listening(h.app);
    const jwt = await token();
    const partial = {
      headers: 'GET /healthz HTTP/1.1\r\nHost: x\r\n',
      body: `POST /v1/payments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${jwt}\r\nIdempotency-Key: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`,
      nothing: '',
    };
    await Promise.all(
      Object.entries(partial).map(async ([what, text]) => {
        const started = Date.now();
        const socket = connect({ host: '127.0.0.1', port });
        socket.on('error', () => undefined);
        let received = '';
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => (received += chunk));
        socket.write(text);
        await new Promise((resolve) => socket.once('close', resolve));
        const elapsedMs = Date.now() - started;
        // Generous bounds: the timeout plus Node's check interval plus a busy machine.
        assert.ok(elapsedMs >= 900 && elapsedMs < 6_000, `${what}: closed after ${elapsedMs} ms`);
        if (what === 'nothing') return;
        const response = parseRawResponse(received);
        assert.equal(response.statusCode, 408, `${what}: ${received}`);
        assert.match(response.headers['content-type'] ?? '', /^application\/problem\+json/);
      }),
    );
    assert.equal(h.publisher.payments.length, 0);
  });

  it('the default header and request timeouts are 10 s, and idle keep-alive connections close after 5 s', async (t) => {
    const h = await harness();
    t.after(() => h.app.close());
    assert.equal(h.app.server.headersTimeout, 10_000);
    assert.equal(h.app.server.requestTimeout, 10_000);
    assert.equal(h.app.server.keepAliveTimeout, 5_000);
  });
});
