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
});
