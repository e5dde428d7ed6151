// Alias targets edited as a list (pure): one address or @domain per entry, no blanks, no
// duplicates (compared case-insensitively on the domain), at most 100.
export const MAX_TARGETS = 100;

export function splitTargets(text: string): string[] {
  return text
    .split(/[\s,;]+/)
    .map((t) => t.trim())
    .filter(Boolean);
}

const norm = (t: string) => {
  const at = t.lastIndexOf('@');
  return at < 0 ? t : t.slice(0, at) + t.slice(at).toLowerCase();
};

export function addTargets(list: readonly string[], text: string): string[] {
  const out = [...list];
  for (const t of splitTargets(text)) if (!out.some((x) => norm(x) === norm(t))) out.push(t);
  return out.slice(0, MAX_TARGETS);
}

export function removeTarget(list: readonly string[], index: number): string[] {
  return list.filter((_t, i) => i !== index);
}

/** Why the list cannot be saved, or null. */
export function targetProblem(list: readonly string[]): string | null {
  if (list.length === 0) return 'Add at least one target.';
  if (list.length > MAX_TARGETS) return `At most ${MAX_TARGETS} targets.`;
  const bad = list.find((t) => !/^[^@\s]*@[^@\s]+$/.test(t));
  return bad === undefined ? null : `"${bad}" is neither an address nor @domain.`;
}
