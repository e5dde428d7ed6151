// Public transport-security endpoints, outside /v1 and without authentication, for the
// operator's HTTPS proxy to map:
//   GET /.well-known/mta-sts.txt — our MTA-STS policy (RFC 8461 §3.3) for the local domain
//     named by the Host header (mta-sts.<domain>); 404 for any other host.
//   POST /tlsrpt — TLS-RPT reports (RFC 8460 §5.4: application/tlsrpt+gzip or +json) about
//     delivering to our domains; stored per policy domain of ours, shown by
//     GET /v1/domains/{name}/tls-reports.
import { parseTlsReport, TlsReportError } from '@hopmail/mail';
import type { FastifyPluginAsync } from 'fastify';
import type { TransportSecurityStore } from '../adapters/transport-security.ts';
import { badRequest, notFound } from '../errors.ts';
import { EVENTS } from '../events.ts';
import { ourStsPolicy, policyDomainOfHost } from '../policy/mta-sts-policy.ts';
import type { DoctorSettings } from '../policy/dns-doctor.ts';

export interface TransportDeps {
  tls: TransportSecurityStore;
  doctor: DoctorSettings;
  tlsRptMaxBytes: number;
}

export const transportRoutes: FastifyPluginAsync<TransportDeps> = async (app, { tls, doctor, tlsRptMaxBytes }) => {
  app.addContentTypeParser(/^application\/tlsrpt\+(gzip|json)$/, { parseAs: 'buffer', bodyLimit: tlsRptMaxBytes }, (_req, body, done) => done(null, body));

  app.get('/.well-known/mta-sts.txt', { schema: { hide: true } }, async (req, reply) => {
    const domain = policyDomainOfHost(req.headers.host);
    if (!domain || !(await tls.isLocalDomain(domain))) throw notFound('no MTA-STS policy for this host');
    const { body } = ourStsPolicy({ ...doctor.mtaSts, mailHostname: doctor.mailHostname });
    return reply.header('content-type', 'text/plain').header('cache-control', 'max-age=300').send(body);
  });

  app.post('/tlsrpt', { schema: { hide: true } }, async (req, reply) => {
    if (!Buffer.isBuffer(req.body)) throw badRequest('body must be application/tlsrpt+gzip or application/tlsrpt+json (RFC 8460 §5.4)');
    let parsed;
    try {
      // The same cap uncompressed: a small gzip must not inflate into a large report.
      parsed = parseTlsReport(req.body, { maxBytes: tlsRptMaxBytes });
    } catch (err) {
      if (err instanceof TlsReportError) throw badRequest(`not a TLS-RPT report: ${err.message}`);
      throw err;
    }
    const stored = await tls.saveReceived(parsed);
    req.log.info({ event: EVENTS.tlsReportReceived, organization: parsed.organization, reportId: parsed.reportId, domains: stored }, 'TLS-RPT report received');
    return reply.code(stored.length ? 201 : 200).send({ stored });
  });
};
