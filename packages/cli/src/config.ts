// The only place the CLI reads its environment (flags --api-url and --token override it).
export interface CliEnv {
  /** Admin API base URL; default http://127.0.0.1:8080. */
  HOPMAIL_API_URL?: string;
  /** The bootstrap ADMIN_TOKEN or an API key. */
  HOPMAIL_API_TOKEN?: string;
}

export function readCliEnv(env: Record<string, string | undefined> = process.env): CliEnv {
  return { HOPMAIL_API_URL: env.HOPMAIL_API_URL, HOPMAIL_API_TOKEN: env.HOPMAIL_API_TOKEN };
}
