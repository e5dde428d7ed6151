import type { FastifyInstance } from 'fastify';
import { forbidden, notFound } from '../../errors.ts';
import type { MessageSearch } from '../../adapters/messages.ts';
import { coversDomain } from '../../policy/scope.ts';
import { errors } from '../schemas.ts';
import { principalOf } from './context.ts';
import { uuid } from './messages.ts';

/** The header of a message is read from its first bytes; a header longer than this is cut (and says so). */
export const HEADER_BYTES = 64 * 1024;

export function messageHeaderRoutes(app: FastifyInstance, { messages, headers }: { messages: MessageSearch; headers: (id: string) => Promise<Buffer | null> }): void {
  app.get<{ Params: { id: string } }>(
    '/messages/:id/headers',
    {
      schema: {
        tags: ['messages'],
        summary: "A message's raw header (never its body)",
        description: `The header section as received (up to the first empty line), at most ${HEADER_BYTES} bytes, decoded as UTF-8 with invalid bytes replaced.`,
        params: { type: 'object', required: ['id'], additionalProperties: false, properties: { id: uuid } },
        response: {
          200: { type: 'object', required: ['headers', 'truncated'], additionalProperties: false, properties: { headers: { type: 'string' }, truncated: { type: 'boolean' } } },
          ...errors(404),
        },
      },
    },
    async (req) => {
      const id = req.params.id.toLowerCase();
      const m = await messages.get(id);
      if (!m) throw notFound(`message ${id} does not exist`);
      const p = principalOf(req);
      if (!m.domains.some((d) => coversDomain(p, d))) throw forbidden(`this key is not allowed to see message ${id}`);
      const start = (await headers(id)) ?? Buffer.alloc(0);
      return headerSection(start);
    },
  );
}

/** The bytes before the first empty line (CRLF CRLF, or LF LF in a message stored that way). */
export function headerSection(start: Buffer): { headers: string; truncated: boolean } {
  let end = start.indexOf('\r\n\r\n');
  const lf = start.indexOf('\n\n');
  if (end < 0 || (lf >= 0 && lf < end)) end = lf;
  return end >= 0 ? { headers: start.subarray(0, end).toString('utf8'), truncated: false } : { headers: start.toString('utf8'), truncated: start.length >= HEADER_BYTES };
}
