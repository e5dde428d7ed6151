// Public, unauthenticated auto-configuration routes (issue #15). They say only which servers
// and ports serve a domain we host — what MX and SRV records already publish — and answer 404
// for domains we do not host, so they do not reveal which mailboxes exist either way.
import { createHash } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { addressDomain, appleMobileconfig, autodiscoverRequestAddress, autodiscoverResponse, thunderbirdConfig, type MailServers } from '../policy/autoconfig.ts';

export interface AutoconfigDeps {
  servers: MailServers;
  /** Whether a domain is one of ours (kind local). */
  isLocalDomain(domain: string): Promise<boolean>;
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

export const autoconfigPlugin: FastifyPluginAsync<AutoconfigDeps> = async (app, deps) => {
  // Autodiscover posts XML; this parser exists only inside this plugin.
  app.addContentTypeParser(['text/xml', 'application/xml'], { parseAs: 'string', bodyLimit: 16_384 }, (_req, body, done) => done(null, body));

  const thunderbird = async (domainHint: string | undefined, address: string | undefined, reply: import('fastify').FastifyReply) => {
    const domain = address ? addressDomain(address) : domainHint ? domainHint.toLowerCase() : null;
    if (!domain || !(await deps.isLocalDomain(domain))) return reply.code(404).type('text/plain').send('not a domain hosted here\n');
    return reply.type('application/xml; charset=utf-8').header('cache-control', 'public, max-age=3600').send(thunderbirdConfig(domain, deps.servers));
  };
  const query = { type: 'object', properties: { emailaddress: { type: 'string', maxLength: 320 } } } as const;

  // Thunderbird asks autoconfig.<domain>/mail/config-v1.1.xml?emailaddress=… and
  // <domain>/.well-known/autoconfig/mail/config-v1.1.xml (the Host header names the domain).
  app.get<{ Querystring: { emailaddress?: string } }>('/mail/config-v1.1.xml', { schema: { hide: true, querystring: query } }, (req, reply) =>
    thunderbird(hostDomain(req.hostname), req.query.emailaddress, reply),
  );
  app.get<{ Querystring: { emailaddress?: string } }>('/.well-known/autoconfig/mail/config-v1.1.xml', { schema: { hide: true, querystring: query } }, (req, reply) =>
    thunderbird(hostDomain(req.hostname), req.query.emailaddress, reply),
  );

  const autodiscover = async (body: unknown, reply: import('fastify').FastifyReply) => {
    const address = typeof body === 'string' ? autodiscoverRequestAddress(body) : null;
    const domain = address ? addressDomain(address) : null;
    if (!address || !domain || !(await deps.isLocalDomain(domain))) return reply.code(404).type('text/plain').send('not a domain hosted here\n');
    return reply.type('application/xml; charset=utf-8').send(autodiscoverResponse(address, deps.servers));
  };
  app.post('/autodiscover/autodiscover.xml', { schema: { hide: true } }, (req, reply) => autodiscover(req.body, reply));
  app.post('/Autodiscover/Autodiscover.xml', { schema: { hide: true } }, (req, reply) => autodiscover(req.body, reply));

  app.get<{ Querystring: { emailaddress?: string } }>('/mail/apple.mobileconfig', { schema: { hide: true, querystring: query } }, async (req, reply) => {
    const address = req.query.emailaddress ?? '';
    const domain = addressDomain(address);
    if (!domain || !(await deps.isLocalDomain(domain))) return reply.code(404).type('text/plain').send('not a domain hosted here\n');
    return reply
      .type('application/x-apple-aspen-config')
      .header('content-disposition', `attachment; filename="${domain}.mobileconfig"`)
      .send(appleMobileconfig(address.trim(), deps.servers, sha));
  });
};

/** autoconfig.example.org → example.org; the bare domain as is. */
function hostDomain(hostname: string): string | undefined {
  const h = hostname.replace(/:\d+$/, '').toLowerCase();
  if (!h || /^[\d.]+$/.test(h) || h === 'localhost' || h.startsWith('[')) return undefined;
  return h.startsWith('autoconfig.') ? h.slice('autoconfig.'.length) : h;
}
