// DKIM keys of a domain, and the DNS doctor. Keys are generated here (or imported), stored
// encrypted under the key-encryption key, and never leave again: responses carry the public
// key and the TXT record to publish. Rotation: add a key (pending), publish its record,
// activate it (the previous key of its algorithm keeps DKIM_GRACE_DAYS before it retires),
// retire or delete the old one.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { checkSelector, DKIM_ALGORITHMS, dkimRecordName, dkimRecordValue, generateDkimKey, importDkimKey, sealPrivateKey, type DkimAlgorithm, type DkimKeyMaterial } from '@hopmail/sender-auth';
import type { DkimKeyRow } from '../../adapters/dkim-keys.ts';
import { lookUp, lookUpAll } from '../../adapters/dns-lookup.ts';
import { badRequest, conflict, isUniqueViolation, notFound } from '../../errors.ts';
import { EVENTS } from '../../events.ts';
import { checkRecord, expectedRecords } from '../../policy/dns-doctor.ts';
import { checkDomainName } from '../../policy/names.ts';
import { bodyErrors, domainName, errors, noContent, text, timestamp } from '../schemas.ts';
import { must, noteAudit, requireDomain, type ApiDeps } from './context.ts';

const tags = ['dkim'];
const SELECTOR_DESCRIPTION = 'DNS label(s) under _domainkey: ASCII letters, digits, inner hyphens (an internationalised selector as its xn-- A-label); stored lower case';
const selector = text(253, { description: SELECTOR_DESCRIPTION, examples: ['ed2025', 'rsa2025'] });
const nullableTime = { type: ['string', 'null'], format: 'date-time' } as const;
const record = {
  type: 'object',
  required: ['name', 'type', 'value'],
  additionalProperties: false,
  properties: { name: { type: 'string' }, type: { type: 'string', enum: ['TXT'] }, value: { type: 'string' } },
} as const;

const key = {
  type: 'object',
  required: ['domain', 'selector', 'algorithm', 'bits', 'publicKey', 'status', 'signing', 'imported', 'createdAt', 'activatedAt', 'retireAt', 'retiredAt', 'dns'],
  additionalProperties: false,
  description: 'a DKIM key; the private key is never returned',
  properties: {
    domain: domainName,
    selector: { type: 'string' },
    algorithm: { type: 'string', enum: [...DKIM_ALGORITHMS] },
    bits: { type: 'integer' },
    publicKey: { type: 'string', description: 'the p= value' },
    status: { type: 'string', enum: ['pending', 'active', 'retiring', 'retired'], description: 'pending: publish its record, then activate; retiring: still valid (published) until retireAt' },
    signing: { type: 'boolean', description: 'outbound-relay signs with this key now (the newest active key of its algorithm)' },
    imported: { type: 'boolean' },
    createdAt: timestamp,
    activatedAt: nullableTime,
    retireAt: nullableTime,
    retiredAt: nullableTime,
    dns: record,
  },
} as const;

const check = {
  type: 'object',
  required: ['kind', 'name', 'type', 'value', 'required', 'status', 'found'],
  additionalProperties: false,
  properties: {
    kind: { type: 'string', enum: ['mx', 'spf', 'dkim', 'dmarc', 'mta-sts', 'tls-rpt'] },
    name: { type: 'string' },
    type: { type: 'string', enum: ['MX', 'TXT'] },
    value: { type: 'string', description: 'what to publish' },
    required: { type: 'boolean' },
    selector: { type: 'string' },
    note: { type: 'string' },
    status: { type: 'string', enum: ['ok', 'missing', 'mismatch', 'unknown'], description: 'unknown: the lookup failed (SERVFAIL, timeout); ask again' },
    found: { type: ['array', 'null'], items: { type: 'string' } },
    detail: { type: 'string' },
  },
} as const;

const doctor = {
  type: 'object',
  required: ['domain', 'checkedAt', 'ok', 'records'],
  additionalProperties: false,
  properties: { domain: domainName, checkedAt: timestamp, ok: { type: 'boolean', description: 'every required record is published and matches' }, records: { type: 'array', items: check } },
} as const;

const nameParams = { type: 'object', required: ['name'], additionalProperties: false, properties: { name: domainName } } as const;
const keyParams = { type: 'object', required: ['name', 'selector'], additionalProperties: false, properties: { name: domainName, selector } } as const;

/** POST routes whose body is optional: no body is `{}` (the schema still says object, for clients and OpenAPI). */
const optionalBody = async (req: FastifyRequest) => {
  req.body ??= {};
};

const withDns = (k: DkimKeyRow) => ({ ...k, dns: { name: dkimRecordName(k.selector, k.domain), type: 'TXT' as const, value: dkimRecordValue(k.algorithm, k.publicKey) } });

export function dkimRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { store, dkimKeys, kek, dns, doctor: settings, dkimGraceDays } = deps;

  async function domainOf(req: FastifyRequest, field: string, input: string): Promise<{ id: number; name: string }> {
    const name = must(checkDomainName(field, input));
    requireDomain(req, name);
    const d = await store.findDomain(name);
    if (!d) throw notFound(`domain ${name} does not exist`);
    return { id: d.id, name };
  }
  const selectorOf = (field: string, input: string, domain: string) => {
    const s = checkSelector(input, domain);
    if (!s.ok) throw badRequest(`${field} ${s.message}`);
    return s.value;
  };

  app.get<{ Params: { name: string } }>(
    '/domains/:name/dkim',
    { schema: { tags, summary: 'List the DKIM keys of a domain (public parts only)', params: nameParams, response: { 200: { type: 'object', required: ['items'], additionalProperties: false, properties: { items: { type: 'array', items: key } } }, ...errors(403, 404) } } },
    async (req) => {
      const d = await domainOf(req, 'params.name', req.params.name);
      return { items: (await dkimKeys.list(d.id)).map(withDns) };
    },
  );

  app.post<{ Params: { name: string }; Body: { selector?: string; algorithm?: DkimAlgorithm; bits?: number; privateKey?: string; activate?: boolean } }>(
    '/domains/:name/dkim',
    {
      config: { action: 'dkim.create' },
      schema: {
        tags,
        summary: 'Generate (or import) a DKIM key',
        description:
          'Generates an Ed25519 or RSA key (2048 bits unless `bits`), or imports `privateKey` (PEM; RSA of 1024 to 4096 bits, or Ed25519). The key is ' +
          '`pending` until activated, unless `activate: true` (it then signs at once: publish its record first). The private key is stored encrypted ' +
          'and never returned; the response carries the TXT record to publish.',
        params: nameParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            selector: { ...selector, description: `${SELECTOR_DESCRIPTION}; default ed<yyyymmdd> or rsa<yyyymmdd>` },
            algorithm: { type: 'string', enum: [...DKIM_ALGORITHMS], description: 'required unless privateKey is given' },
            bits: { type: 'integer', enum: [2048, 3072, 4096], description: 'RSA modulus length (default 2048)' },
            privateKey: { type: 'string', minLength: 1, maxLength: 16384, description: 'PEM private key to import instead of generating one', writeOnly: true },
            activate: { type: 'boolean', default: false },
          },
        },
        response: { 201: key, ...errors(403, 404, 409, ...bodyErrors) },
      },
    },
    async (req, reply) => {
      const d = await domainOf(req, 'params.name', req.params.name);
      const b = req.body ?? {};
      let material: DkimKeyMaterial;
      if (b.privateKey !== undefined) {
        const imported = importDkimKey(b.privateKey);
        if (!imported.ok) throw badRequest(`body.privateKey ${imported.message}`);
        if (b.algorithm && b.algorithm !== imported.key.algorithm) throw badRequest(`body.privateKey is an ${imported.key.algorithm} key, not ${b.algorithm}`);
        if (b.bits !== undefined) throw badRequest('body.bits applies to generated keys only');
        material = imported.key;
      } else {
        if (!b.algorithm) throw badRequest('body.algorithm is required (ed25519 or rsa) unless body.privateKey is given');
        if (b.bits !== undefined && b.algorithm !== 'rsa') throw badRequest('body.bits applies to RSA keys only');
        material = await generateDkimKey(b.algorithm, b.bits ?? 2048);
      }
      const sel = selectorOf('body.selector', b.selector ?? `${material.algorithm === 'ed25519' ? 'ed' : 'rsa'}${new Date().toISOString().slice(0, 10).replaceAll('-', '')}`, d.name);
      noteAudit(req, `${d.name} ${sel}`, { algorithm: material.algorithm, bits: material.bits });
      try {
        const row = await dkimKeys.create(
          { domainId: d.id, selector: sel, algorithm: material.algorithm, bits: material.bits, publicKey: material.publicKey, privateKey: sealPrivateKey(kek, { domain: d.name, selector: sel }, material.privatePem), kekId: kek.id, imported: b.privateKey !== undefined },
          b.activate ? { graceDays: dkimGraceDays } : null,
        );
        req.log.info({ event: EVENTS.dkimKeyCreated, domain: d.name, selector: sel, algorithm: row.algorithm, bits: row.bits, imported: row.imported, status: row.status }, 'DKIM key created');
        return reply.code(201).send(withDns(row));
      } catch (err) {
        if (isUniqueViolation(err)) throw conflict(`selector ${sel} already exists for ${d.name}; choose another (body.selector)`);
        throw err;
      }
    },
  );

  app.post<{ Params: { name: string; selector: string }; Body: { graceDays?: number; force?: boolean } }>(
    '/domains/:name/dkim/:selector/activate',
    {
      config: { action: 'dkim.activate' },
      preValidation: optionalBody,
      schema: {
        tags,
        summary: 'Activate a pending key: it signs from now on',
        description:
          'Checks first, through dns-cache, that its TXT record is published and matches (409 otherwise, unless `force`). The previously active key ' +
          'of the same algorithm keeps `graceDays` (default DKIM_GRACE_DAYS) before it is retired; keep its record published until then.',
        params: keyParams,
        body: { type: 'object', additionalProperties: false, properties: { graceDays: { type: 'integer', minimum: 0, maximum: 365 }, force: { type: 'boolean', description: 'activate even though the record is not (yet) visible in DNS' } } },
        response: { 200: key, ...errors(403, 404, 409, ...bodyErrors) },
      },
    },
    async (req) => {
      const d = await domainOf(req, 'params.name', req.params.name);
      const sel = selectorOf('params.selector', req.params.selector, d.name);
      const current = await dkimKeys.get(d.id, sel);
      if (!current) throw notFound(`DKIM key ${sel} of ${d.name} does not exist`);
      if (current.status !== 'pending') throw conflict(`DKIM key ${sel} of ${d.name} is ${current.status}; only a pending key can be activated`);
      if (!req.body.force) {
        const expected = { kind: 'dkim' as const, name: dkimRecordName(sel, d.name), type: 'TXT' as const, value: dkimRecordValue(current.algorithm, current.publicKey), required: true };
        const c = checkRecord(expected, await lookUp(dns, expected), settings.mailHostname);
        if (c.status !== 'ok') {
          throw conflict(`the TXT record ${expected.name} is ${c.status}${c.found ? ` (found: ${c.found.join(' | ').slice(0, 200)})` : ''}; publish "${expected.value}" first, or pass force`);
        }
      }
      const row = await dkimKeys.activate(d.id, sel, req.body.graceDays ?? dkimGraceDays);
      if (row === 'missing') throw notFound(`DKIM key ${sel} of ${d.name} does not exist`);
      if (row === 'not-pending') throw conflict(`DKIM key ${sel} of ${d.name} is no longer pending`);
      req.log.info({ event: EVENTS.dkimKeyActivated, domain: d.name, selector: sel, algorithm: row.algorithm, forced: req.body.force === true }, 'DKIM key activated');
      return withDns(row);
    },
  );

  app.post<{ Params: { name: string; selector: string } }>(
    '/domains/:name/dkim/:selector/retire',
    {
      config: { action: 'dkim.retire' },
      preValidation: optionalBody,
      schema: { tags, summary: 'Retire a key now: it never signs again', description: 'Its record can be removed from DNS once mail signed with it has been delivered.', params: keyParams, body: { type: 'object', additionalProperties: false, properties: {} }, response: { 200: key, ...errors(403, 404) } },
    },
    async (req) => {
      const d = await domainOf(req, 'params.name', req.params.name);
      const sel = selectorOf('params.selector', req.params.selector, d.name);
      const row = await dkimKeys.retire(d.id, sel);
      if (!row) throw notFound(`DKIM key ${sel} of ${d.name} does not exist`);
      req.log.info({ event: EVENTS.dkimKeyRetired, domain: d.name, selector: sel, algorithm: row.algorithm }, 'DKIM key retired');
      return withDns(row);
    },
  );

  app.delete<{ Params: { name: string; selector: string } }>(
    '/domains/:name/dkim/:selector',
    {
      config: { action: 'dkim.delete' },
      schema: { tags, summary: 'Delete a pending or retired key', params: keyParams, response: { 204: noContent, ...errors(403, 404, 409) } },
    },
    async (req, reply) => {
      const d = await domainOf(req, 'params.name', req.params.name);
      const sel = selectorOf('params.selector', req.params.selector, d.name);
      const r = await dkimKeys.delete(d.id, sel);
      if (r === 'missing') throw notFound(`DKIM key ${sel} of ${d.name} does not exist`);
      if (r === 'active') throw conflict(`DKIM key ${sel} of ${d.name} is active; retire it first`);
      req.log.info({ event: EVENTS.dkimKeyDeleted, domain: d.name, selector: sel }, 'DKIM key deleted');
      return reply.code(204).send();
    },
  );

  app.get<{ Params: { name: string } }>(
    '/domains/:name/dns',
    {
      schema: {
        tags: ['domains'],
        summary: 'DNS doctor: the records to publish for a domain, checked live',
        description:
          'MX, SPF, the TXT record of every pending, active or retiring DKIM key, DMARC, and placeholders for MTA-STS and TLS-RPT, each looked up ' +
          'through dns-cache (all at once) and reported ok, missing, mismatch (with what was found) or unknown (the lookup failed).',
        params: nameParams,
        response: { 200: doctor, ...errors(403, 404) },
      },
    },
    async (req) => {
      const d = await domainOf(req, 'params.name', req.params.name);
      const keys = (await dkimKeys.list(d.id)).filter((k) => k.status !== 'retired');
      const expected = expectedRecords(d.name, settings, keys);
      const answers = await lookUpAll(dns, expected);
      const records = expected.map((e, i) => checkRecord(e, answers[i]!, settings.mailHostname));
      return { domain: d.name, checkedAt: new Date(), ok: records.every((r) => !r.required || r.status === 'ok'), records };
    },
  );
}
