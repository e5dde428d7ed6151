// Series colours; styles.css has the same ones for the legend swatches (.swatch-<name>).
export const COLORS: Record<string, string> = {
  received: '#1d4ed8',
  delivered: '#047857',
  deferred: '#b45309',
  bounced: '#b91c1c',
  'route-message': '#7c3aed',
  'deliver-remote': '#0e7490',
  'send-dsn': '#be185d',
  queued: '#4338ca',
  relay: '#0369a1',
  held: '#6b7280',
};
export const colorOf = (name: string) => COLORS[name] ?? '#374151';
