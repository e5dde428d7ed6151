// The logger's promise (logger.ts): credentials are redacted wherever a logged object or a
// child's bindings carry them, at the top level and one level down; nothing else is touched.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: createLogger('test', 'info', stream), lines };
}

describe('createLogger', () => {
  it('redacts password, pass, authorization and token at the top level and one level down', () => {
    const { log, lines } = capture();
    const user = { name: 'alice', password: 'hunter2', pass: 'p', token: 't', authorization: 'Basic x' };
    log.info({ event: 'x', password: 'top', pass: 'top2', token: 'tok', authorization: 'Bearer y', user, headers: { authorization: 'Bearer z', host: 'h' } }, 'msg');
    expect(lines[0]).toMatchObject({
      event: 'x',
      password: '***',
      pass: '***',
      token: '***',
      authorization: '***',
      user: { name: 'alice', password: '***', pass: '***', token: '***', authorization: '***' },
      headers: { authorization: '***', host: 'h' },
      msg: 'msg',
    });
    // The caller's objects are not changed.
    expect(user.password).toBe('hunter2');
  });

  it("redacts a child logger's bindings, and leaves other fields and deeper levels alone", () => {
    const { log, lines } = capture();
    const child = log.child({ sessionId: 's1', password: 'in-bindings' });
    child.info({ deep: { a: { password: 'two levels down' } }, list: [{ password: 'in an array' }], note: 'password' }, 'hello');
    expect(lines[0]).toMatchObject({ sessionId: 's1', password: '***', note: 'password', deep: { a: { password: 'two levels down' } }, msg: 'hello' });
    expect(JSON.stringify(lines[0])).not.toContain('in-bindings');
  });

  it("redacts one level down in a child's bindings, and in a grandchild's", () => {
    const { log, lines } = capture();
    const bindings = { auth: { user: 'u', token: 'secret-token' } };
    const grandchild = log.child(bindings).child({ jobId: 'j', headers: { authorization: 'Basic abc' } });
    grandchild.warn({ event: 'e' }, 'deep');
    expect(lines[0]).toMatchObject({ auth: { user: 'u', token: '***' }, jobId: 'j', headers: { authorization: '***' }, event: 'e' });
    expect(JSON.stringify(lines[0])).not.toMatch(/secret-token|Basic abc/);
    expect(bindings.auth.token).toBe('secret-token');
  });

  it('keeps an Error one level down an Error (message and stack) when it censors a key on it', () => {
    const { log, lines } = capture();
    const err = Object.assign(new Error('boom'), { password: 'on the error' });
    log.error({ err, event: 'x' }, 'failed');
    expect(lines[0]).toMatchObject({ err: { type: 'Error', message: 'boom', password: '***' } });
    expect(String((lines[0]!.err as { stack: string }).stack)).toContain('boom');
    expect(err.password).toBe('on the error');
  });
});
