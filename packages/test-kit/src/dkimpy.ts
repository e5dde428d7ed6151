// An independent DKIM and ARC verifier for tests: dkimpy (Debian's python3-dkim, with
// python3-nacl for Ed25519), run with /usr/bin/python3 (the PATH's python3 may be another one
// without the module). Key records come from the test, not from DNS.
import { execFile, execFileSync } from 'node:child_process';

const PYTHON = '/usr/bin/python3';

const SCRIPT = `
import sys, json, dkim
records = json.loads(sys.argv[1])
message = sys.stdin.buffer.read()
def dns(name, timeout=5):
    n = (name.decode() if isinstance(name, bytes) else name).rstrip('.').lower()
    v = records.get(n)
    return v.encode() if v is not None else None
d = dkim.DKIM(message)
count = sum(1 for (k, v) in d.headers if k.lower() == b'dkim-signature')
signatures = []
for i in range(count):
    v = dkim.DKIM(message)
    try:
        ok = bool(v.verify(idx=i, dnsfunc=dns))
        err = None
    except Exception as e:
        ok, err = False, str(e)
    f = v.signature_fields or {}
    g = lambda k: f.get(k, b'').decode()
    signatures.append({'ok': ok, 'error': err, 'domain': g(b'd'), 'selector': g(b's'), 'algorithm': g(b'a'), 'headers': g(b'h')})
arc = None
if any(k.lower() == b'arc-seal' for (k, v) in d.headers):
    cv, results, comment = dkim.arc_verify(message, dnsfunc=dns)
    arc = {'cv': cv.decode() if isinstance(cv, bytes) else str(cv), 'comment': str(comment)}
print(json.dumps({'signatures': signatures, 'arc': arc}))
`;

export interface DkimpyResult {
  signatures: { ok: boolean; error: string | null; domain: string; selector: string; algorithm: string; headers: string }[];
  /** ARC chain validation (cv of the newest set) when the message has ARC sets. */
  arc: { cv: string; comment: string } | null;
}

/** Why dkimpy cannot run here, or null when it can. */
export function dkimpyMissing(): string | null {
  try {
    execFileSync(PYTHON, ['-c', 'import dkim, nacl'], { stdio: 'ignore' });
    return null;
  } catch {
    return `${PYTHON} with the dkim and nacl modules (Debian: python3-dkim python3-nacl) is not installed`;
  }
}

/** Verifies every DKIM-Signature (and the ARC chain) of `message`; `records` maps `sel._domainkey.dom` → TXT. */
export function verifyWithDkimpy(message: Buffer, records: Record<string, string>): Promise<DkimpyResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(PYTHON, ['-c', SCRIPT, JSON.stringify(Object.fromEntries(Object.entries(records).map(([k, v]) => [k.toLowerCase(), v])))], { maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`dkimpy failed: ${stderr || err.message}`));
      resolve(JSON.parse(stdout) as DkimpyResult);
    });
    child.stdin!.end(message);
  });
}

const SIGN_SCRIPT = `
import sys, json, dkim
opts = json.loads(sys.argv[1])
message = sys.stdin.buffer.read()
sig = dkim.sign(message, opts['selector'].encode(), opts['domain'].encode(), opts['key'].encode(),
    canonicalize=(b'relaxed', b'relaxed'), signature_algorithm=opts['algorithm'].encode(),
    include_headers=[h.encode() for h in opts['headers']])
sys.stdout.buffer.write(sig)
`;

/**
 * The DKIM-Signature field (with its CRLF) dkimpy makes for `message`, to put in front of it.
 * `key`: an RSA private key in PEM, or for Ed25519 the base64 of the 32-byte seed (dkimpy's form).
 */
export function signWithDkimpy(
  message: Buffer,
  options: { domain: string; selector: string; key: string; algorithm: 'rsa-sha256' | 'ed25519-sha256'; headers?: string[] },
): Promise<string> {
  const opts = { ...options, headers: options.headers ?? ['from', 'to', 'subject', 'date', 'message-id'] };
  return new Promise((resolve, reject) => {
    const child = execFile(PYTHON, ['-c', SIGN_SCRIPT, JSON.stringify(opts)], { maxBuffer: 1 << 20, encoding: 'buffer' }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`dkimpy sign failed: ${stderr.toString() || err.message}`));
      // dkimpy folds with LF; the wire wants CRLF.
      resolve(stdout.toString('latin1').replace(/\r?\n/g, '\r\n'));
    });
    child.stdin!.end(message);
  });
}
