// Every overlay under deploy/overlays, rendered the way `kubectl kustomize` does, validated
// against the Kubernetes API schemas and cross-checked with the services' configuration
// schemas, the start-command table and the service kit. No cluster needed.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { QUEUE } from '@hopmail/queue';
import {
  describe as name,
  effectiveConfig,
  listenerPortKeys,
  loadSchema,
  renderKustomization,
  requiredKeys,
  root,
  selects,
  serviceNames,
  splitImage,
  validateObject,
  type Schema,
} from './lib.ts';

type Any = any;

const overlays = readdirSync(join(root, 'deploy', 'overlays')).sort();
const services = serviceNames();
const schemas = new Map<string, Schema>();
beforeAll(async () => {
  for (const s of services) schemas.set(s, await loadSchema(s));
});

/** Standard port each exposed service offers in its Service, and the schema key behind it. */
const SERVICE_PORTS: Record<string, { type: string; ports: [number, string, string][] }> = {
  'smtp-ingress': { type: 'LoadBalancer', ports: [[25, 'TCP', 'SMTP_PORT']] },
  pop3: { type: 'LoadBalancer', ports: [[110, 'TCP', 'POP3_PORT']] },
  imap: { type: 'LoadBalancer', ports: [[143, 'TCP', 'IMAP_PORT']] },
  'dns-cache': { type: 'ClusterIP', ports: [[53, 'UDP', 'DNS_PORT'], [53, 'TCP', 'DNS_PORT']] },
  'admin-api': { type: 'ClusterIP', ports: [[8080, 'TCP', 'ADMIN_PORT']] },
};
/** Values that satisfy the schemas where the real ones live in a Secret created out of band. */
const PLACEHOLDER: Record<string, string> = {
  DATABASE_URL: 'postgres://hopmail:secret@db.example.internal:5432/hopmail',
  REDIS_URL: 'redis://:secret@redis.example.internal:6379',
  ADMIN_TOKEN: 'placeholder-admin-token-0123456789',
  DKIM_KEY_ENCRYPTION_KEY: Buffer.alloc(32, 5).toString('base64'),
  SRS_SECRET: 'placeholder-srs-secret-0123',
};
const CREDENTIAL = /(URL|TOKEN|PASSWORD|SECRET|_KEY)$/;

describe.each(overlays)('deploy/overlays/%s', (overlay) => {
  const objects = renderKustomization(join(root, 'deploy', 'overlays', overlay));
  const find = (kind: string, n: string) => objects.find((o) => o.kind === kind && o.metadata.name === n) as Any;
  const all = (kind: string) => objects.filter((o) => o.kind === kind) as Any[];
  const deployment = (svc: string) => {
    const d = find('Deployment', svc);
    if (!d) throw new Error(`${overlay}: no Deployment ${svc}`);
    return d;
  };
  const container = (svc: string) => deployment(svc).spec.template.spec.containers.find((c: Any) => c.name === svc) ?? deployment(svc).spec.template.spec.containers[0];
  const secret = find('Secret', 'hopmail-secrets');

  /** Environment of a container: envFrom ConfigMaps, then env (values, refs, $(VAR) expansion). */
  function containerEnv(c: Any, podSpec: Any): { env: Record<string, string>; problems: string[]; fromSecret: Set<string> } {
    const env: Record<string, string> = {};
    const problems: string[] = [];
    const fromSecret = new Set<string>();
    for (const from of c.envFrom ?? []) {
      if (from.secretRef) problems.push(`envFrom secret ${from.secretRef.name}: every key would reach the process; use secretKeyRef`);
      if (!from.configMapRef) continue;
      const cm = find('ConfigMap', from.configMapRef.name);
      if (!cm) problems.push(`ConfigMap ${from.configMapRef.name} is not rendered`);
      else Object.assign(env, cm.data ?? {});
    }
    for (const e of c.env ?? []) {
      if (e.value !== undefined) {
        env[e.name] = String(e.value).replace(/\$\(([A-Z0-9_]+)\)/g, (_m: string, v: string) => {
          if (v in env) return env[v]!;
          const link = /^([A-Z0-9_]+)_SERVICE_(HOST|PORT)$/.exec(v);
          const svc = link && objects.find((o) => o.kind === 'Service' && o.metadata.name.toUpperCase().replace(/-/g, '_') === link[1]);
          if (!svc || podSpec.enableServiceLinks === false) {
            problems.push(`${e.name}: $(${v}) is neither an earlier variable nor a service link variable`);
            return '';
          }
          return link![2] === 'HOST' ? '10.96.0.53' : String((svc as Any).spec.ports[0].port);
        });
      } else if (e.valueFrom?.secretKeyRef) {
        const ref = e.valueFrom.secretKeyRef;
        fromSecret.add(e.name);
        if (ref.name !== 'hopmail-secrets') problems.push(`${e.name}: from Secret ${ref.name}, expected hopmail-secrets`);
        if (secret) {
          const value = secret.stringData?.[ref.key] ?? (secret.data?.[ref.key] !== undefined ? Buffer.from(secret.data[ref.key], 'base64').toString() : undefined);
          if (value !== undefined) env[e.name] = value;
          else if (!ref.optional) problems.push(`${e.name}: Secret hopmail-secrets has no key ${ref.key}`);
        } else if (PLACEHOLDER[ref.key]) env[e.name] = PLACEHOLDER[ref.key]!;
        else if (!ref.optional) problems.push(`${e.name}: ${ref.key} has no placeholder`);
      } else if (e.valueFrom?.configMapKeyRef) {
        const cm = find('ConfigMap', e.valueFrom.configMapKeyRef.name);
        env[e.name] = cm?.data?.[e.valueFrom.configMapKeyRef.key] ?? '';
      } else problems.push(`${e.name}: unsupported env source`);
    }
    return { env, problems, fromSecret };
  }

  const serviceEnv = (svc: string) => containerEnv(container(svc), deployment(svc).spec.template.spec);
  const config = (svc: string) => {
    const r = effectiveConfig(schemas.get(svc)!, serviceEnv(svc).env);
    if (!r.ok) throw new Error(`${svc}: ${r.problems.join('; ')}`);
    return r.config;
  };

  it('validates against the Kubernetes API schemas, with no unknown field', async () => {
    const problems: string[] = [];
    for (const o of objects) for (const p of await validateObject(o)) problems.push(`${name(o)} ${p}`);
    expect(problems).toEqual([]);
  });

  it('puts every namespaced object in the overlay namespace', () => {
    const ns = all('Namespace');
    expect(ns).toHaveLength(1);
    expect(objects.filter((o) => o.kind !== 'Namespace' && o.metadata.namespace !== ns[0].metadata.name).map(name)).toEqual([]);
    expect(ns[0].metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  it.each(services)('%s: Deployment, Service, PodDisruptionBudget and one autoscaler', (svc) => {
    const labels = deployment(svc).spec.template.metadata.labels;
    expect(selects(deployment(svc).spec.selector, labels)).toBe(true);
    expect(find('Service', svc)).toBeDefined();
    expect(selects({ matchLabels: find('Service', svc).spec.selector }, labels)).toBe(true);
    const pdbs = all('PodDisruptionBudget').filter((p) => selects(p.spec.selector, labels));
    expect(pdbs).toHaveLength(1);
    const scalers = [...all('HorizontalPodAutoscaler'), ...all('ScaledObject')].filter((h) => h.spec.scaleTargetRef.name === svc);
    expect(scalers.map(name)).toHaveLength(1);
  });

  it.each(services)('%s: runs its image with the image CMD, the `pnpm start` command of the service', (svc) => {
    const c = container(svc);
    expect(splitImage(c.image)[0]).toMatch(new RegExp(`(^|/)hopmail/${svc}$`));
    expect(c.command).toBeUndefined();
    expect(c.args).toBeUndefined();
  });

  it.each(services)('%s: sets only variables its schema knows, every required one, all valid', (svc) => {
    const { env, problems } = serviceEnv(svc);
    expect(problems).toEqual([]);
    const known = Object.keys(schemas.get(svc)!.shape);
    expect(Object.keys(env).filter((k) => !known.includes(k))).toEqual([]);
    expect(requiredKeys(schemas.get(svc)!).filter((k) => !env[k])).toEqual([]);
    expect(effectiveConfig(schemas.get(svc)!, env)).toMatchObject({ ok: true });
  });

  it.each(services)('%s: credentials come from the Secret, never from a ConfigMap', (svc) => {
    const { env, fromSecret } = serviceEnv(svc);
    for (const k of Object.keys(env).filter((k) => CREDENTIAL.test(k))) expect(fromSecret, `${svc} ${k}`).toContain(k);
    for (const cm of all('ConfigMap')) expect(Object.keys(cm.data ?? {}).filter((k) => CREDENTIAL.test(k)), `ConfigMap ${cm.metadata.name}`).toEqual([]);
  });

  it.each(services)('%s: container ports and Service ports match the configuration', (svc) => {
    const c = container(svc);
    const cfg = config(svc);
    const ports: Any[] = c.ports ?? [];
    expect(ports.find((p) => p.name === 'health')?.containerPort).toBe(cfg.HEALTH_PORT);
    for (const k of listenerPortKeys(schemas.get(svc)!)) expect(ports.map((p) => p.containerPort), `${svc} ${k}`).toContain(cfg[k]);
    const service = find('Service', svc);
    for (const sp of service.spec.ports) {
      const target = typeof sp.targetPort === 'string' ? ports.find((p) => p.name === sp.targetPort) : ports.find((p) => p.containerPort === (sp.targetPort ?? sp.port));
      expect(target, `${svc} Service port ${sp.name}`).toBeDefined();
      expect(target.protocol ?? 'TCP').toBe(sp.protocol ?? 'TCP');
    }
    const expected = SERVICE_PORTS[svc];
    if (expected) {
      expect(service.spec.type).toBe(expected.type);
      for (const [port, protocol, key] of expected.ports) {
        const sp = service.spec.ports.find((p: Any) => p.port === port && (p.protocol ?? 'TCP') === protocol);
        expect(sp, `${svc} offers ${port}/${protocol}`).toBeDefined();
        const target = typeof sp.targetPort === 'string' ? ports.find((p) => p.name === sp.targetPort) : { containerPort: sp.targetPort };
        expect(target.containerPort).toBe(cfg[key]);
      }
    } else {
      expect(service.spec.type ?? 'ClusterIP').toBe('ClusterIP');
    }
    // Client addresses must survive for SMTP and POP3 (Received:, per-IP limits).
    if (service.spec.type === 'LoadBalancer') expect(service.spec.externalTrafficPolicy).toBe('Local');
    // Prometheus annotations point at the health port.
    expect(deployment(svc).spec.template.metadata.annotations?.['prometheus.io/port']).toBe(String(cfg.HEALTH_PORT));
  });

  it.each(services)('%s: passes TLS files when its schema knows them, from the mounted Secret', (svc) => {
    const keys = ['TLS_CERT_FILE', 'TLS_KEY_FILE'].filter((k) => k in schemas.get(svc)!.shape);
    const { env } = serviceEnv(svc);
    const mounts: Any[] = container(svc).volumeMounts ?? [];
    for (const k of keys) {
      expect(env[k], `${svc} ${k}`).toMatch(/^\/etc\/hopmail\/certs\//);
      const mount = mounts.find((m) => env[k]!.startsWith(m.mountPath + '/'));
      const volume = deployment(svc).spec.template.spec.volumes.find((v: Any) => v.name === mount?.name);
      expect(volume?.secret?.secretName, `${svc} ${k}`).toBe('hopmail-tls');
    }
  });

  it.each(services)('%s: probes on the service kit endpoints', (svc) => {
    const c = container(svc);
    const cfg = config(svc);
    const port = (p: Any) => (p.httpGet.port === 'health' ? cfg.HEALTH_PORT : p.httpGet.port);
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    expect(c.startupProbe.httpGet.path).toBe('/healthz');
    for (const p of [c.livenessProbe, c.readinessProbe, c.startupProbe]) expect(port(p)).toBe(cfg.HEALTH_PORT);
  });

  it.each(services)('%s: Kubernetes waits longer than the shutdown deadline', (svc) => {
    const spec = deployment(svc).spec.template.spec;
    const preStop = JSON.stringify(container(svc).lifecycle?.preStop ?? {});
    const pauseMs = Number(/setTimeout\(.*?(\d+)\)/.exec(preStop)?.[1] ?? 0);
    expect(spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan((config(svc).SHUTDOWN_TIMEOUT_MS as number) + pauseMs);
  });

  it('every pod runs non-root, read-only, unprivileged, with requests and limits', () => {
    const problems: string[] = [];
    for (const o of objects as Any[]) {
      const spec = o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template.spec : o.spec?.template?.spec;
      if (!spec) continue;
      if (spec.automountServiceAccountToken !== false) problems.push(`${name(o)}: service account token mounted`);
      if (spec.securityContext?.seccompProfile?.type !== 'RuntimeDefault') problems.push(`${name(o)}: no RuntimeDefault seccomp profile`);
      for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
        const sc = c.securityContext ?? {};
        if (!(sc.runAsNonRoot ?? spec.securityContext?.runAsNonRoot)) problems.push(`${name(o)} ${c.name}: may run as root`);
        if ((sc.runAsUser ?? spec.securityContext?.runAsUser) === 0) problems.push(`${name(o)} ${c.name}: runAsUser 0`);
        if (sc.readOnlyRootFilesystem !== true) problems.push(`${name(o)} ${c.name}: writable root filesystem`);
        if (sc.allowPrivilegeEscalation !== false) problems.push(`${name(o)} ${c.name}: privilege escalation allowed`);
        if (!sc.capabilities?.drop?.includes('ALL') || sc.capabilities?.add?.length) problems.push(`${name(o)} ${c.name}: capabilities not all dropped`);
        if (sc.privileged) problems.push(`${name(o)} ${c.name}: privileged`);
        for (const r of ['requests', 'limits']) for (const k of ['cpu', 'memory']) if (!c.resources?.[r]?.[k]) problems.push(`${name(o)} ${c.name}: no ${r}.${k}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('runs the migrations as a Job with the `pnpm migrate` command and only DATABASE_URL', () => {
    const job = find('Job', 'migrate');
    expect(job).toBeDefined();
    const spec = job.spec.template.spec;
    expect(spec.containers).toHaveLength(1);
    const c = spec.containers[0];
    expect(splitImage(c.image)[0]).toMatch(/(^|\/)hopmail\/migrate$/);
    expect(c.command).toBeUndefined();
    expect(c.args).toBeUndefined();
    expect((c.env ?? []).map((e: Any) => e.name)).toEqual(['DATABASE_URL']);
    expect(c.env[0].valueFrom.secretKeyRef.name).toBe('hopmail-secrets');
    expect(c.envFrom).toBeUndefined();
    expect(['Never', 'OnFailure']).toContain(spec.restartPolicy);
  });

  describe('network policies', () => {
    const policies = all('NetworkPolicy');
    const selecting = (labels: Record<string, string>) => policies.filter((p) => selects(p.spec.podSelector, labels) || Object.keys(p.spec.podSelector ?? {}).length === 0);
    const egressPorts = (labels: Record<string, string>) =>
      new Set(selecting(labels).filter((p) => p.spec.policyTypes.includes('Egress')).flatMap((p) => (p.spec.egress ?? []).flatMap((r: Any) => (r.ports ?? []).map((x: Any) => x.port))));
    const ingressRules = (labels: Record<string, string>) => selecting(labels).filter((p) => p.spec.policyTypes.includes('Ingress')).flatMap((p) => p.spec.ingress ?? []);

    it('deny everything in the namespace by default', () => {
      expect(policies.some((p) => Object.keys(p.spec.podSelector).length === 0 && p.spec.policyTypes.includes('Ingress') && p.spec.policyTypes.includes('Egress') && !p.spec.ingress && !p.spec.egress)).toBe(true);
    });

    it.each(services)('%s reaches PostgreSQL and Redis only if it uses them, and receives only on its own ports', (svc) => {
      const labels = deployment(svc).spec.template.metadata.labels;
      const { env } = serviceEnv(svc);
      const egress = egressPorts(labels);
      expect(egress.has(5432), `${svc} → PostgreSQL`).toBe('DATABASE_URL' in env);
      expect(egress.has(6379), `${svc} → Redis`).toBe('REDIS_URL' in env);
      const cfg = config(svc);
      const c = container(svc);
      const named = (port: Any) => (typeof port === 'string' ? c.ports.find((p: Any) => p.name === port)?.containerPort : port);
      const open = ingressRules(labels).flatMap((r: Any) => (r.ports ?? []).map((x: Any) => named(x.port)));
      for (const k of listenerPortKeys(schemas.get(svc)!)) expect(open, `${svc} ${k}`).toContain(cfg[k]);
      expect(open).toContain(cfg.HEALTH_PORT);
      expect(open.filter((p: number) => p !== cfg.HEALTH_PORT && !listenerPortKeys(schemas.get(svc)!).some((k) => cfg[k] === p))).toEqual([]);
    });

    it('webhook receivers (80, 443) are reached by the housekeeper only; it runs one replica by default', () => {
      for (const svc of services) {
        const egress = egressPorts(deployment(svc).spec.template.metadata.labels);
        expect(egress.has(443) || egress.has(80), `${svc} → webhook receivers`).toBe(svc === 'housekeeper');
      }
      expect(deployment('housekeeper').spec.replicas).toBe(1);
      expect(all('HorizontalPodAutoscaler').find((h) => h.spec.scaleTargetRef.name === 'housekeeper')?.spec.minReplicas).toBe(1);
    });

    it('dns-cache answers outbound-relay, admin-api (the DNS doctor) and smtp-ingress (inbound SPF/DKIM/DMARC); all reach it; outbound-relay reaches remote MX hosts', () => {
      const labels = deployment('dns-cache').spec.template.metadata.labels;
      const dnsRules = ingressRules(labels).filter((r: Any) => (r.ports ?? []).some((p: Any) => ['dns-udp', 'dns-tcp', config('dns-cache').DNS_PORT].includes(p.port)));
      expect(dnsRules.length).toBeGreaterThan(0);
      for (const r of dnsRules) {
        expect(r.from?.length).toBeGreaterThan(0);
        for (const f of r.from) expect(selects(f.podSelector, deployment('outbound-relay').spec.template.metadata.labels)).toBe(true);
        for (const f of r.from) expect(selects(f.podSelector, deployment('admin-api').spec.template.metadata.labels)).toBe(true);
        for (const f of r.from) expect(selects(f.podSelector, deployment('smtp-ingress').spec.template.metadata.labels)).toBe(true);
      }
      expect(egressPorts(deployment('smtp-ingress').spec.template.metadata.labels).has(config('dns-cache').DNS_PORT)).toBe(true);
      expect(egressPorts(deployment('admin-api').spec.template.metadata.labels).has(config('dns-cache').DNS_PORT)).toBe(true);
      const relay = egressPorts(deployment('outbound-relay').spec.template.metadata.labels);
      expect(relay.has(config('dns-cache').DNS_PORT)).toBe(true);
      expect(relay.has(25)).toBe(true);
    });
  });

  it('outbound-relay resolves through the dns-cache Service', () => {
    const dns = container('outbound-relay').env.find((e: Any) => e.name === 'DNS_SERVERS');
    expect(dns.value).toMatch(/^\$\(DNS_CACHE_SERVICE_HOST\):\d+$/);
    const port = Number(dns.value.split(':').at(-1));
    expect(find('Service', 'dns-cache').spec.ports.some((p: Any) => p.port === port && p.protocol === 'UDP')).toBe(true);
  });

  it('scales routing and outbound-relay on queue depth where KEDA is used', () => {
    const scaled = all('ScaledObject');
    if (!overlay.includes('keda')) return expect(scaled).toEqual([]);
    const queueOf: Record<string, string> = { routing: QUEUE.routeMessage, 'outbound-relay': QUEUE.deliverRemote };
    expect(scaled.map((s) => s.spec.scaleTargetRef.name).sort()).toEqual(Object.keys(queueOf).sort());
    for (const s of scaled) {
      const svc = s.spec.scaleTargetRef.name as string;
      const redis = s.spec.triggers.find((t: Any) => t.type === 'redis');
      expect(redis.metadata.listName).toBe(`${config(svc).REDIS_PREFIX}:${queueOf[svc]}:wait`);
      expect(all('HorizontalPodAutoscaler').filter((h) => h.spec.scaleTargetRef.name === svc)).toEqual([]);
    }
  });

  it(overlay === 'dev' ? 'brings its own PostgreSQL and a queue-grade Redis' : 'expects managed PostgreSQL and Redis and commits no Secret', () => {
    if (overlay === 'dev') {
      expect(find('StatefulSet', 'postgres')).toBeDefined();
      const redis = find('StatefulSet', 'redis');
      const args = redis.spec.template.spec.containers[0].args.join(' ');
      expect(args).toContain('--appendonly yes');
      expect(args).toContain('--maxmemory-policy noeviction');
      expect(secret).toBeDefined();
    } else {
      expect(all('Secret')).toEqual([]);
      expect(all('StatefulSet')).toEqual([]);
      // The datastores are outside: egress to them goes to addresses, not pods.
      for (const n of ['postgres-clients', 'redis-clients']) expect(find('NetworkPolicy', n).spec.egress.every((r: Any) => r.to.every((t: Any) => t.ipBlock))).toBe(true);
    }
  });
});
