// One test per private part of smtp-server that smtp-server-internals.ts relies on. When an
// upgrade of the library changes one of them, the test named after it fails here (and the
// transcript tests would fail in less obvious ways).
import { randomBytes, X509Certificate } from 'node:crypto';
import { Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { createSelfSignedCertificate } from '@hopmail/tls';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { SmtpClient } from '../../test/helpers.ts';
import { waitFor } from '@hopmail/test-kit';
import { boundTlsHandshakes, fastSessionStart, followDefaultContext, HopmailConnection, newSessionId, sessionIdOf, isIdle, tellIdleSessions, useHopmailConnections, type ConnectionEvent, type ConnectionLimits } from './smtp-server-internals.ts';

const servers: SMTPServer[] = [];
const clients: SmtpClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

interface Started {
  server: SMTPServer;
  port: number;
  events: ConnectionEvent[];
  connect(): Promise<SmtpClient>;
}

/** An smtp-server on 127.0.0.1:0 with HopmailConnections (`limits: null`: smtp-server's own, for comparison). */
async function start(options: SMTPServerOptions = {}, limits: Partial<ConnectionLimits> | null = {}): Promise<Started> {
  const events: ConnectionEvent[] = [];
  const server = new SMTPServer({ logger: false, disableReverseLookup: true, disabledCommands: ['STARTTLS', 'AUTH'], closeTimeout: 100, ...options });
  server.on('error', () => {});
  if (limits) useHopmailConnections(server, { maxLineLength: 512, maxBadCommands: 10, hostname: 'mx.test', authAfterTls: false, maxAuthFailures: 3, greetingDelayMs: 0, sessionMaxMs: 60_000, tlsHandshakeTimeoutMs: 30_000, onEvent: (_c, e) => events.push(e), ...limits });
  servers.push(server);
  const port = await new Promise<number>((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve((server.server.address() as { port: number }).port));
  });
  return {
    server,
    port,
    events,
    async connect() {
      const c = await SmtpClient.connect(port);
      clients.push(c);
      return c;
    },
  };
}

const onlyConnection = (server: SMTPServer) => {
  expect(server.connections.size).toBe(1);
  return [...server.connections][0]!;
};

describe('useHopmailConnections (replaces SMTPServer#connect)', () => {
  it('SMTPServer#connect still takes the steps it copies', () => {
    // If this fails, smtp-server changed how it sets up a connection: copy the new steps
    // into useHopmailConnections() and update the expected text.
    expect(SMTPServer.prototype.connect.toString().replace(/\s+/g, ' ')).toBe(
      "connect(socket, socketOptions) { let connection = new SMTPConnection(this, socket, socketOptions); this.connections.add(connection); connection.on('error', err => this._onError(err)); connection.on('connect', data => this._onClientConnect(data)); connection.init(); }",
    );
    expect(typeof SMTPServer.prototype._onError).toBe('function');
    expect(typeof SMTPServer.prototype._onClientConnect).toBe('function');
  });

  it('sessions run on HopmailConnection, are listed, and report to the server', async () => {
    const s = await start();
    const connected = new Promise((resolve) => s.server.once('connect', resolve));
    const c = await s.connect();
    expect(await c.cmd('EHLO client.test')).toMatch(/^250/);
    const connection = onlyConnection(s.server);
    expect(connection).toBeInstanceOf(HopmailConnection);
    expect(connection).toBeInstanceOf(SMTPConnection);
    await expect(connected).resolves.toMatchObject({ remoteAddress: '127.0.0.1' });
    const failed = new Promise<Error>((resolve) => s.server.once('error', resolve));
    connection.emit('error', new Error('socket trouble'));
    await expect(failed).resolves.toMatchObject({ message: 'socket trouble' });
  });
});

describe('fastSessionStart (replaces SMTPServer#_handleProxy without PROXY protocol)', () => {
  it('SMTPServer#_handleProxy still only makes the id and the ignore flag before the PROXY header part', () => {
    // If this fails, smtp-server changed what happens between accept and connect(): copy
    // the new steps into fastSessionStart() and update the expected text.
    const text = SMTPServer.prototype._handleProxy.toString().replace(/\s+/g, ' ');
    expect(text).toContain("_handleProxy(socket, callback) { let socketOptions = { id: BigInt('0x' + crypto.randomBytes(10).toString('hex')) .toString(32) .padStart(16, '0') }; if (!this._expectsProxyHeader(socket)) { socketOptions.ignore = this.options.ignoredHosts && this.options.ignoredHosts.includes(socket.remoteAddress); setImmediate(() => callback(null, socketOptions)); return; }");
  });

  it('session ids have smtp-server\'s form: 80 bits as 16 base-32 digits, as BigInt#toString(32) padded', () => {
    for (const octets of [Buffer.alloc(10), Buffer.alloc(10, 0xff), Buffer.from('0123456789'), ...Array.from({ length: 200 }, () => randomBytes(10))]) {
      expect(sessionIdOf(octets)).toBe(BigInt('0x' + octets.toString('hex')).toString(32).padStart(16, '0'));
    }
    const ids = new Set(Array.from({ length: 1000 }, newSessionId));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^[0-9a-v]{16}$/);
  });

  it('sessions start with such an id; with useProxy the library\'s own step stays', async () => {
    const s = await start();
    fastSessionStart(s.server);
    const c = await s.connect();
    expect(await c.cmd('EHLO client.test')).toMatch(/^250/);
    expect(onlyConnection(s.server).id).toMatch(/^[0-9a-v]{16}$/);
    const proxied = new SMTPServer({ logger: false, useProxy: true });
    fastSessionStart(proxied);
    expect(proxied._handleProxy).toBe(SMTPServer.prototype._handleProxy);
  });
});

describe('HopmailConnection overrides', () => {
  it('send(): context false makes smtp-server add no enhanced code of its own, so each reply has ours once', async () => {
    const s = await start();
    const c = await s.connect();
    expect(await c.cmd('FOO')).toBe('500 5.5.2 Error: command not recognized');
    expect(await c.cmd('NOOP')).toBe('250 2.0.0 OK');
    // Replies of one event-loop turn are corked on the connection's socket.
    expect(onlyConnection(s.server)._socket).toBeInstanceOf(Socket);
  });

  it('send(): a 421 sets _closing at once, so a limit reached while closing adds no second 421', async () => {
    const s = await start({}, { maxBadCommands: 2 });
    const c = await s.connect();
    const connection = onlyConnection(s.server);
    expect(connection._closing).toBe(false);
    expect(await c.cmd('FOO')).toMatch(/^500 5\.5\.2 /);
    connection.send(421, '4.3.2 mx.test Service shutting down');
    expect(connection._closing).toBe(true);
    // The second bad command's reply (smtp-server sends what is already in flight) brings no 421.
    connection.send(500, 'Error: command not recognized');
    expect(await c.reply()).toBe('421 4.3.2 mx.test Service shutting down');
    await c.waitClosed();
    expect(c.unread).toBe(0);
    expect(s.events).toEqual([]);
  });

  it('send(): the bad-command limit ends the session with 421 4.7.0', async () => {
    const s = await start({}, { maxBadCommands: 2 });
    const c = await s.connect();
    c.write('FOO\r\nBAR\r\nBAZ\r\n');
    expect(await c.reply()).toMatch(/^500 5\.5\.2 /);
    expect(await c.reply()).toMatch(/^500 5\.5\.2 /);
    expect(await c.reply()).toBe('421 4.7.0 mx.test Error: too many errors, closing connection');
    await c.waitClosed();
    expect(c.unread).toBe(0);
    expect(s.events).toEqual(['too-many-bad-commands']);
  });

  it('_onCommand(): sees each command line while _ready, not _upgrading, no _nextHandler, and resumes through _whenWritable', async () => {
    const s = await start({}, { maxLineLength: 512 });
    const c = await s.connect();
    const connection = onlyConnection(s.server);
    expect([connection._ready, connection._upgrading, connection._nextHandler]).toEqual([true, false, false]);
    expect(typeof connection._whenWritable).toBe('function');
    expect(await c.cmd(`NOOP ${'x'.repeat(600)}`)).toBe('500 5.5.2 Line too long');
    expect(await c.cmd('NOOP')).toBe('250 2.0.0 OK');
    expect(s.events).toEqual(['line-too-long']);
  });

  it('_onCommand(): AUTH in clear is 538 5.7.11 where AUTH needs TLS', async () => {
    const s = await start({ disabledCommands: ['STARTTLS'], allowInsecureAuth: true, onAuth: (_a, _s, cb) => cb(null, { user: 'x' }) }, { authAfterTls: true });
    const c = await s.connect();
    expect(await c.cmd('AUTH PLAIN AGEAYg==')).toBe('538 5.7.11 Encryption required: issue STARTTLS first');
    expect(await c.cmd('NOOP')).toBe('250 2.0.0 OK');
    expect(s.events).toEqual(['auth-in-clear']);
  });

  it('_isSupported(): AUTH is not listed in clear even where smtp-server would list it', async () => {
    const options: SMTPServerOptions = { disabledCommands: ['STARTTLS'], allowInsecureAuth: true, onAuth: (_a, _s, cb) => cb(null, { user: 'x' }) };
    const ehlo = async (s: Started) => (await (await s.connect()).cmd('EHLO client.test')).split('\n');
    expect((await ehlo(await start(options, null))).filter((l) => /^250[- ]AUTH /.test(l))).toHaveLength(1);
    const ours = await ehlo(await start(options));
    expect(ours[0]).toMatch(/^250-/);
    expect(ours.filter((l) => /^250[- ]AUTH /.test(l))).toEqual([]);
  });

  it('_onCommand() with refuseEarlyPipelining: a command after EHLO/HELO in the same write, or a partial line in the parser’s _remainder when the reply leaves, is 421 4.7.0; after PIPELINING was advertised it is RFC 2920 pipelining', async () => {
    const s = await start({}, { refuseEarlyPipelining: true });
    const early = 'mx.test You talk too soon: command sent before the reply to EHLO/HELO';
    const a = await s.connect();
    a.write('EHLO client.test\r\nMAIL FROM:<a@b.test>\r\n');
    expect(await a.reply()).toMatch(/^250-/);
    expect(await a.reply()).toBe(`421 4.7.0 ${early}`);
    await a.waitClosed();
    const b = await s.connect();
    b.write('HELO client.test\r\nNOOP\r\n');
    expect(await b.reply()).toMatch(/^250 /);
    expect(await b.reply()).toBe(`421 4.7.0 ${early}`);
    await b.waitClosed();
    const c = await s.connect();
    c.write('EHLO client.test\r\nMAIL FROM:<a@b');
    expect(await c.reply()).toMatch(/^250-/);
    expect(await c.reply()).toBe(`421 4.7.0 ${early}`);
    await c.waitClosed();
    expect(s.events).toEqual(['early-talker-pipelining', 'early-talker-pipelining', 'early-talker-pipelining']);
    // Waited for the reply: PIPELINING is known, a group (and a later EHLO in one) is fine.
    const d = await s.connect();
    expect(await d.cmd('EHLO client.test')).toMatch(/^250-/);
    const parser = onlyConnection(s.server)._parser;
    expect(parser && typeof parser._remainder).toBe('string');
    d.write('NOOP\r\nEHLO client.test\r\nNOOP\r\n');
    expect(await d.reply()).toBe('250 2.0.0 OK');
    expect(await d.reply()).toMatch(/^250-/);
    expect(await d.reply()).toBe('250 2.0.0 OK');
    expect(s.events).toHaveLength(3);
    // Off (the default here, and on submission listeners): smtp-server's behaviour.
    const off = await start();
    const e = await off.connect();
    e.write('HELO client.test\r\nNOOP\r\n');
    expect(await e.reply()).toMatch(/^250 /);
    expect(await e.reply()).toBe('250 2.0.0 OK');
    expect(off.events).toEqual([]);
  });

  it('_createParser(): a line past the parser cap is 500 5.5.2 then 421 4.7.0, not smtp-server’s bare 421', async () => {
    const s = await start({ maxCommandLength: 1024 }, { maxLineLength: 512 });
    const c = await s.connect();
    c.write('NOOP ' + 'x'.repeat(2000));
    expect(await c.reply()).toBe('500 5.5.2 Line too long');
    expect(await c.reply()).toBe('421 4.7.0 Line too long, closing connection');
    await c.waitClosed();
  });
});

describe('greeting, session and handshake deadlines (SMTPConnection#init, _setListeners, connectionReady, upgrade; SMTPServer#_upgrade)', () => {
  const tlsOptions = () => {
    const { cert, key } = createSelfSignedCertificate({ names: ['mx.test'] });
    return { key, cert };
  };

  it('SMTPConnection#init still takes the steps HopmailConnection#init copies', () => {
    // If this fails, smtp-server changed how a session starts: copy the new steps into
    // HopmailConnection#init() and update the expected text.
    expect(SMTPConnection.prototype.init.toString().replace(/\/\/[^\n]*\n/g, '').replace(/\s+/g, ' ')).toBe(
      'init() { this._setListeners(() => { if (this._server.options.maxClients && this._server.connections.size > this._server.options.maxClients) { return this.send(421, this.name + \' Too many connected clients, try again in a moment\', false); } let readyTimer = setTimeout(() => this.connectionReady(), 100); readyTimer.unref(); }); }',
    );
  });

  it('greets at once with no delay configured (smtp-server waits a fixed 100 ms)', async () => {
    const s = await start();
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const c = await SmtpClient.open(s.port);
      clients.push(c);
      expect(await c.reply()).toMatch(/^220 /);
      times.push(performance.now() - t0);
    }
    // The fastest of three: a busy machine can delay one, not the fixed 100 ms of smtp-server.
    expect(Math.min(...times)).toBeLessThan(60);
  });

  it('with a greeting delay, a client that talks first gets 421 and no greeting', async () => {
    const s = await start({}, { greetingDelayMs: 400 });
    const c = await SmtpClient.open(s.port);
    clients.push(c);
    c.write('EHLO early.test\r\n');
    expect(await c.reply()).toMatch(/^421 .*talk too soon/);
    expect(c.received).not.toMatch(/^220 /);
    expect(s.events).toEqual(['early-talker-pregreet']);
  });

  it('a session past its deadline gets 421 4.4.2 and is closed, however active (slowloris)', async () => {
    const s = await start({}, { sessionMaxMs: 500 });
    const c = await s.connect();
    const t0 = Date.now();
    // A byte every 50 ms keeps the idle timeout from ever firing.
    const drip = setInterval(() => !c.closed && c.write('N'), 50);
    try {
      await waitFor(async () => c.closed, { what: 'the session to be closed', timeoutMs: 10_000 });
    } finally {
      clearInterval(drip);
    }
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
    expect(c.received).toMatch(/421 4\.4\.2 mx\.test Error: session time limit exceeded, closing connection\r\n$/);
    expect(s.events).toContain('session-deadline');
  });

  it('STARTTLS: a client that never completes the handshake is dropped at the handshake deadline', async () => {
    const s = await start({ disabledCommands: ['AUTH'], ...tlsOptions() }, { tlsHandshakeTimeoutMs: 300 });
    const c = await s.connect();
    await c.cmd('EHLO client.test');
    expect(await c.cmd('STARTTLS')).toMatch(/^220 /);
    // No ClientHello: the server must not wait the idle timeout (60 s here).
    await waitFor(async () => c.closed, { what: 'the connection to be dropped', timeoutMs: 5_000 });
    expect(s.events).toContain('tls-handshake-timeout');
  });

  it('STARTTLS that completes in time goes on normally', async () => {
    const s = await start({ disabledCommands: ['AUTH'], ...tlsOptions() }, { tlsHandshakeTimeoutMs: 300 });
    const c = await s.connect();
    await c.cmd('EHLO client.test');
    expect(await c.cmd('STARTTLS')).toMatch(/^220 /);
    const t = await c.startTls();
    clients.push(t);
    await new Promise((r) => setTimeout(r, 400));
    expect(await t.cmd('EHLO client.test')).toMatch(/^250/);
    expect(s.events).not.toContain('tls-handshake-timeout');
  });

  it('implicit TLS: boundTlsHandshakes drops a client that sends no ClientHello', async () => {
    const s = await start({ secure: true, disabledCommands: ['AUTH'], ...tlsOptions() });
    const errors: (Error & { code?: string })[] = [];
    s.server.on('error', (err: Error) => errors.push(err));
    boundTlsHandshakes(s.server, 300);
    const c = await SmtpClient.open(s.port);
    clients.push(c);
    // The idle timeout (smtp-server's handshake deadline otherwise) is 60 s here.
    await waitFor(async () => c.closed, { what: 'the connection to be dropped', timeoutMs: 5_000 });
    expect(errors.map((e) => e.code)).toContain('ERR_TLS_HANDSHAKE_TIMEOUT');
    // A real TLS client is untouched.
    const t = await SmtpClient.connectTls(s.port);
    clients.push(t);
    await new Promise((r) => setTimeout(r, 400));
    expect(await t.cmd('NOOP')).toMatch(/^250/);
  });
});

describe('followDefaultContext (SMTPServer#secureContext)', () => {
  const pair = (name: string) => {
    const { cert, key } = createSelfSignedCertificate({ names: [name] });
    return { context: createSecureContext({ cert, key }), fingerprint: new X509Certificate(cert).fingerprint256 };
  };

  it("the '*' context is what a STARTTLS client without SNI gets, now and after a reload", async () => {
    const first = pair('first.test');
    const second = pair('second.test');
    let current = first;
    let reloaded = () => {};
    const s = await start({ disabledCommands: ['AUTH'], SNICallback: (_name, cb) => cb(null, current.context) });
    expect(s.server.secureContext).toBeInstanceOf(Map);
    expect(s.server.secureContext.has('*')).toBe(true);
    const detach = followDefaultContext(s.server, {
      getSecureContext: () => current.context,
      onReload: (listener) => {
        reloaded = listener;
        return () => (reloaded = () => {});
      },
    });
    const handshake = async () => {
      // Only the TLS client is closed afterwards: it owns the plain socket under it.
      const c = await SmtpClient.connect(s.port);
      await c.cmd('EHLO client.test');
      expect(await c.cmd('STARTTLS')).toMatch(/^220 /);
      const t = await c.startTls();
      clients.push(t);
      return t.peerFingerprint;
    };
    expect(await handshake()).toBe(first.fingerprint);
    current = second;
    reloaded();
    expect(await handshake()).toBe(second.fingerprint);
    detach();
  });
});

describe('tellIdleSessions (SMTPServer#connections, _handlerPending, _dataStream, _closing, the parser\'s _chunkMode)', () => {
  it('tells only the sessions that wait for the client, once', async () => {
    let hookCalled = () => {};
    const called = new Promise<void>((resolve) => (hookCalled = resolve));
    let release = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    const s = await start({
      // MAIL FROM:<slow@…> waits for the test to release it: a hook in progress.
      onMailFrom: (address, _s, cb) => {
        if (!address.address.startsWith('slow@')) return cb();
        hookCalled();
        void released.then(() => cb());
      },
      onData: (stream, _s, cb) => {
        stream.resume();
        stream.on('end', () => cb());
      },
    });
    const idle = await s.connect();
    await idle.cmd('EHLO idle.test');
    const inData = await s.connect();
    await inData.cmd('EHLO data.test');
    await inData.cmd('MAIL FROM:<a@x.test>');
    await inData.cmd('RCPT TO:<b@x.test>');
    expect(await inData.cmd('DATA')).toMatch(/^354 /);
    const waiting = await s.connect();
    await waiting.cmd('EHLO waiting.test');
    waiting.write('MAIL FROM:<slow@x.test>\r\n');
    await called;
    // In the middle of a BDAT chunk (RFC 3030): receiving, not idle.
    const inChunk = await s.connect();
    await inChunk.cmd('EHLO chunk.test');
    await inChunk.cmd('MAIL FROM:<a@x.test>');
    await inChunk.cmd('RCPT TO:<b@x.test>');
    inChunk.write('BDAT 40 LAST\r\nSubject: x\r\n');
    await waitFor(async () => [...s.server.connections].some((c) => c._parser && c._parser._chunkMode), { what: 'a session in chunk mode' });

    const states = [...s.server.connections].map((c) => ({ idle: isIdle(c), handler: c._handlerPending, data: Boolean(c._dataStream), closing: c._closing }));
    expect(states).toEqual([
      { idle: true, handler: false, data: false, closing: false },
      { idle: false, handler: false, data: true, closing: false },
      { idle: false, handler: true, data: false, closing: false },
      { idle: false, handler: false, data: false, closing: false },
    ]);
    tellIdleSessions(s.server, 421, '4.3.2 mx.test Service shutting down, try again later');
    tellIdleSessions(s.server, 421, '4.3.2 mx.test Service shutting down, try again later');
    expect(await idle.reply()).toBe('421 4.3.2 mx.test Service shutting down, try again later');
    await idle.waitClosed();
    expect(idle.unread).toBe(0);
    expect([inData.unread, waiting.unread, inChunk.unread]).toEqual([0, 0, 0]);

    release();
    expect(await waiting.reply()).toMatch(/^250 /);
    inData.write('Subject: x\r\n\r\nbody\r\n.\r\n');
    expect(await inData.reply()).toMatch(/^250 /);
    inChunk.write('\r\n'.padEnd(40 - 'Subject: x\r\n'.length, '.'));
    expect(await inChunk.reply()).toMatch(/^250 /);
  });
});
