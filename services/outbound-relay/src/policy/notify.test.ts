import { describe, expect, it } from 'vitest';
import { wantsReport } from './notify.ts';

describe('wantsReport (RFC 3461 §4.1)', () => {
  it.each([
    [null, 'failed', true],
    [null, 'delayed', true],
    [['NEVER'], 'failed', false],
    [['NEVER'], 'delayed', false],
    [['SUCCESS'], 'failed', false],
    [['SUCCESS'], 'delayed', false],
    [['FAILURE'], 'failed', true],
    [['FAILURE'], 'delayed', false],
    [['DELAY'], 'delayed', true],
    [['DELAY'], 'failed', false],
    [['SUCCESS', 'FAILURE', 'DELAY'], 'delayed', true],
    [[], 'failed', false],
    [null, 'success', false],
    [['SUCCESS'], 'success', true],
    [['FAILURE', 'DELAY'], 'success', false],
  ] as const)('NOTIFY %j, %s → %s', (notify, reason, wanted) => expect(wantsReport(notify, reason)).toBe(wanted));
});
