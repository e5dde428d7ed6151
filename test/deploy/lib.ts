// Shared by the deployment tests: the services and their configuration schemas, compose
// interpolation, a Kustomize renderer for the subset of Kustomize deploy/ uses, and
// validation against the Kubernetes API schemas (kubernetes-models, @kubernetes-models/keda).

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { z } from '@hopmail/config';

export const root = fileURLToPath(new URL('../..', import.meta.url));

/** Every directory under services/: each is a service that must be deployed. */
export function serviceNames(): string[] {
  return readdirSync(join(root, 'services'))
    .filter((d) => statSync(join(root, 'services', d)).isDirectory())
    .sort();
}

export type Schema = z.ZodObject;

/** The configuration schema of one service; throws a clear error while config.ts is missing. */
export async function loadSchema(service: string): Promise<Schema> {
  const file = join(root, 'services', service, 'src', 'config.ts');
  if (!existsSync(file)) throw new Error(`services/${service}/src/config.ts does not exist yet: cannot check its deployment`);
  const mod = (await import(pathToFileURL(file).href)) as { configSchema?: Schema };
  if (!mod.configSchema) throw new Error(`services/${service}/src/config.ts exports no configSchema`);
  return mod.configSchema;
}

/** Keys without a default: the deployment must set them. */
export function requiredKeys(schema: Schema): string[] {
  return Object.entries(schema.shape)
    .filter(([, field]) => !(field as z.ZodType).safeParse(undefined).success)
    .map(([key]) => key);
}

/** The effective configuration for `env`, the way loadConfig builds it (empty = unset). */
export function effectiveConfig(schema: Schema, env: Record<string, string>): { ok: true; config: Record<string, unknown> } | { ok: false; problems: string[] } {
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) if (env[key] !== undefined && env[key] !== '') input[key] = env[key];
  const parsed = schema.safeParse(input);
  if (parsed.success) return { ok: true, config: parsed.data as Record<string, unknown> };
  return { ok: false, problems: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) };
}

/** A service's defaults: the image or a fresh machine with only the one required key set. */
export function defaultConfig(schema: Schema): Record<string, unknown> {
  const r = effectiveConfig(schema, { ADMIN_TOKEN: 'x'.repeat(32) });
  if (!r.ok) throw new Error(r.problems.join('; '));
  return r.config;
}

/** Keys naming a port this service listens on (not HEALTH_PORT, not a remote port). */
export function listenerPortKeys(schema: Schema): string[] {
  return Object.keys(schema.shape).filter((k) => /_PORT$/.test(k) && k !== 'HEALTH_PORT' && !/^RELAY_/.test(k));
}

/**
 * docker compose variable interpolation with an empty environment (a fresh machine without
 * .env): ${X:-default} and ${X-default} give the default, ${X} gives '', $$ is a dollar.
 */
export function interpolate(value: string): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (match, _name: string, op?: string, arg?: string) => {
    if (match === '$$') return '$';
    if (op === ':-' || op === '-') return arg ?? '';
    if (op === ':?' || op === '?') throw new Error(`${match}: a fresh machine without .env would fail here`);
    return '';
  });
}

export function interpolateDeep(value: unknown): unknown {
  if (typeof value === 'string') return interpolate(value);
  if (Array.isArray(value)) return value.map(interpolateDeep);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateDeep(v)]));
  return value;
}

export function parseYamlDocs(file: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { merge: true });
  const out: unknown[] = [];
  for (const doc of docs as { errors: unknown[]; toJS(): unknown }[]) {
    if (doc.errors.length) throw new Error(`${file}: ${String(doc.errors[0])}`);
    const js = doc.toJS();
    if (js !== null && js !== undefined) out.push(js);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Kustomize, the subset deploy/ uses. No kustomize implementation exists on npm, and CI has
// no kubectl, so the fields are interpreted here the way kustomize does, and any other field
// fails the test rather than being ignored: resources (files, directories), components,
// namespace, images (newName/newTag/digest), patches (strategic merge, one document per file,
// matched by kind and name; `$patch: delete` removes the object).

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

const KUSTOMIZATION_FIELDS = new Set(['apiVersion', 'kind', 'resources', 'components', 'namespace', 'patches', 'images']);
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PersistentVolume', 'StorageClass', 'PriorityClass']);
/** Lists whose items kustomize merges by name (their patchMergeKey); others are replaced. */
const MERGE_BY_NAME = new Set(['containers', 'initContainers', 'env', 'volumes', 'imagePullSecrets']);

function readKustomization(dir: string): Record<string, unknown> {
  const file = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].map((f) => join(dir, f)).find((f) => existsSync(f));
  if (!file) throw new Error(`${dir}: no kustomization.yaml`);
  const [k] = parseYamlDocs(file) as Record<string, unknown>[];
  for (const field of Object.keys(k ?? {})) {
    if (!KUSTOMIZATION_FIELDS.has(field)) throw new Error(`${file}: field "${field}" is not supported by test/deploy/lib.ts; keep overlays simple or extend the renderer`);
  }
  return k ?? {};
}

function strategicMerge(target: unknown, patch: unknown, key = ''): unknown {
  if (patch === null) return undefined;
  if (Array.isArray(patch)) {
    if (MERGE_BY_NAME.has(key) && Array.isArray(target) && patch.every((p) => p && typeof p === 'object' && 'name' in p)) {
      const out = [...(target as Record<string, unknown>[])];
      for (const item of patch as Record<string, unknown>[]) {
        const i = out.findIndex((t) => t.name === item.name);
        if (i >= 0) out[i] = strategicMerge(out[i], item) as Record<string, unknown>;
        else out.push(item);
      }
      return out;
    }
    return structuredClone(patch);
  }
  if (patch && typeof patch === 'object') {
    const out: Record<string, unknown> = target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
    for (const [k, v] of Object.entries(patch)) {
      const merged = strategicMerge(out[k], v, k);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    }
    return out;
  }
  return patch;
}

function applyPatches(objects: K8sObject[], patches: unknown, base: string): K8sObject[] {
  let out = objects;
  for (const entry of (patches ?? []) as { path?: string; patch?: string; target?: unknown }[]) {
    if (entry.target) throw new Error(`${base}: patches with target are not supported by test/deploy/lib.ts`);
    const docs = entry.path ? parseYamlDocs(join(base, entry.path)) : entry.patch ? (parseAllDocuments(entry.patch).map((d) => d.toJS()) as unknown[]) : [];
    if (docs.length !== 1) throw new Error(`${base}: a patch must be exactly one document (${entry.path ?? 'inline'})`);
    const patch = docs[0] as K8sObject & { $patch?: string };
    const matches = out.filter((o) => o.kind === patch.kind && o.metadata.name === patch.metadata.name);
    if (matches.length !== 1) throw new Error(`${base}: patch ${entry.path ?? 'inline'} matches ${matches.length} objects (${patch.kind}/${patch.metadata.name})`);
    if (patch.$patch === 'delete') {
      out = out.filter((o) => o !== matches[0]);
      continue;
    }
    const { $patch: _ignored, ...body } = patch;
    out = out.map((o) => (o === matches[0] ? (strategicMerge(o, body) as K8sObject) : o));
  }
  return out;
}

function podSpecs(o: K8sObject): Record<string, unknown>[] {
  const spec = o.spec as Record<string, any> | undefined;
  if (!spec) return [];
  if (o.kind === 'Pod') return [spec];
  if (o.kind === 'CronJob') return [spec.jobTemplate?.spec?.template?.spec].filter(Boolean);
  return [spec.template?.spec].filter(Boolean);
}

function applyImages(objects: K8sObject[], images: unknown): void {
  for (const img of (images ?? []) as { name: string; newName?: string; newTag?: string; digest?: string }[]) {
    for (const o of objects) {
      for (const spec of podSpecs(o)) {
        for (const c of [...((spec.containers as any[]) ?? []), ...((spec.initContainers as any[]) ?? [])]) {
          const [name, tag] = splitImage(c.image);
          if (name !== img.name) continue;
          const newName = img.newName ?? name;
          c.image = img.digest ? `${newName}@${img.digest}` : `${newName}${img.newTag ? `:${img.newTag}` : tag ? `:${tag}` : ''}`;
        }
      }
    }
  }
}

/** 'hopmail/routing:1.2' → ['hopmail/routing', '1.2'] (a registry port is not a tag). */
export function splitImage(image: string): [string, string | undefined] {
  const at = image.indexOf('@');
  const ref = at >= 0 ? image.slice(0, at) : image;
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  return colon > slash ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, undefined];
}

function loadResources(dir: string, entries: unknown): K8sObject[] {
  const out: K8sObject[] = [];
  for (const entry of (entries ?? []) as string[]) {
    const path = resolve(dir, entry);
    if (statSync(path).isDirectory()) out.push(...renderKustomization(path));
    else out.push(...(parseYamlDocs(path) as K8sObject[]));
  }
  return out;
}

/** What `kubectl kustomize <dir>` prints, as objects. */
export function renderKustomization(dir: string): K8sObject[] {
  const k = readKustomization(dir);
  if (k.kind === 'Component') throw new Error(`${dir} is a Component: list it under components`);
  let objects = loadResources(dir, k.resources).map((o) => structuredClone(o));
  for (const entry of (k.components ?? []) as string[]) {
    const cdir = resolve(dir, entry);
    const c = readKustomization(cdir);
    if (c.kind !== 'Component') throw new Error(`${cdir} is not a Component`);
    objects = applyPatches([...objects, ...loadResources(cdir, c.resources)], c.patches, cdir);
    applyImages(objects, c.images);
    if (c.namespace) throw new Error(`${cdir}: namespace in a component is not supported`);
  }
  objects = applyPatches(objects, k.patches, dir);
  if (typeof k.namespace === 'string') {
    for (const o of objects) {
      if (o.kind === 'Namespace') o.metadata.name = k.namespace;
      else if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
    }
  }
  applyImages(objects, k.images);
  const seen = new Set<string>();
  for (const o of objects) {
    const id = `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    if (seen.has(id)) throw new Error(`${dir}: ${id} appears twice`);
    seen.add(id);
  }
  return objects;
}

// ---------------------------------------------------------------------------------------
// Validation against the Kubernetes API schemas.

interface ModelClass {
  new (data: unknown): { validate(): void };
}

async function modelFor(o: K8sObject): Promise<ModelClass> {
  if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string' || !/^[A-Za-z]+$/.test(o.kind)) throw new Error(`object without apiVersion/kind: ${JSON.stringify(o).slice(0, 80)}`);
  const [group = '', version = ''] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  const spec = group.endsWith('keda.sh') ? `@kubernetes-models/keda/${group}/${version}/${o.kind}` : group ? `kubernetes-models/${group}/${version}/${o.kind}` : `kubernetes-models/${version}/${o.kind}`;
  try {
    const mod = (await import(spec)) as Record<string, ModelClass>;
    const model = mod[o.kind];
    if (!model) throw new Error('no export');
    return model;
  } catch (err) {
    throw new Error(`no Kubernetes schema for ${o.apiVersion} ${o.kind} (${(err as Error).message})`);
  }
}

interface AjvError {
  instancePath: string;
  message?: string;
}

function validationErrors(Model: ModelClass, data: unknown): AjvError[] {
  try {
    new Model(data).validate();
    return [];
  } catch (err) {
    const errors = (err as { errors?: AjvError[] }).errors;
    if (!errors) throw err;
    return errors;
  }
}

const pointer = (path: string[]) => path.map((p) => '/' + p.replace(/~/g, '~0').replace(/\//g, '~1')).join('');

/**
 * The API schemas do not forbid unknown fields (the API server does: strict field
 * validation), so a misspelt field (`readinesProbe`) would pass. Each field is probed
 * instead: replaced by a value no schema type accepts, a known field must make the schema
 * complain at exactly that path; a field the schema never looks at is unknown.
 */
function unknownFields(Model: ModelClass, object: unknown): string[] {
  const unknown: string[] = [];
  const walk = (value: unknown, path: string[]) => {
    if (Array.isArray(value)) return value.forEach((v, i) => walk(v, [...path, String(i)]));
    if (!value || typeof value !== 'object') return;
    for (const [k, v] of Object.entries(value)) {
      const fieldPath = [...path, k];
      const probe = structuredClone(object) as Record<string, unknown>;
      let parent: any = probe;
      for (const p of path) parent = parent[p];
      parent[k] = Symbol('probe');
      const at = pointer(fieldPath);
      if (!validationErrors(Model, probe).some((e) => e.instancePath === at)) unknown.push(at);
      else walk(v, fieldPath);
    }
  };
  walk(object, []);
  return unknown;
}

/** Schema problems of one object; [] when it is valid. */
export async function validateObject(o: K8sObject): Promise<string[]> {
  let Model: ModelClass;
  try {
    Model = await modelFor(o);
  } catch (err) {
    return [(err as Error).message];
  }
  const errors = validationErrors(Model, o).map((e) => `${e.instancePath || '/'} ${e.message ?? 'invalid'}`);
  return [...errors, ...unknownFields(Model, o).map((p) => `${p}: unknown field`)];
}

export function describe(o: K8sObject): string {
  return `${o.kind}/${o.metadata.name}`;
}

/** Label selector matching (matchLabels, matchExpressions In/NotIn/Exists/DoesNotExist). */
export function selects(selector: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] } | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = e.key in labels;
    if (e.operator === 'In' && !(has && e.values?.includes(labels[e.key]!))) return false;
    if (e.operator === 'NotIn' && has && e.values?.includes(labels[e.key]!)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}
