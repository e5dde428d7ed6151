import client from 'prom-client';

export { client as prom };

export function createRegistry(service: string): client.Registry {
  const registry = new client.Registry();
  registry.setDefaultLabels({ service });
  client.collectDefaultMetrics({ register: registry, prefix: 'hopmail_' });
  return registry;
}
