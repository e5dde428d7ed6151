import { hash, verify, type Algorithm } from '@node-rs/argon2';

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(hashed: string, password: string): Promise<boolean>;
}

export interface Argon2Params {
  memoryKib: number;
  timeCost: number;
  parallelism: number;
}

/** Argon2id in PHC form (`$argon2id$v=19$m=…`), the format pop3 verifies against. */
export function argon2idHasher(params: Argon2Params): PasswordHasher {
  return {
    hash: (password) =>
      hash(password, {
        // Algorithm is a const enum (not importable under isolatedModules); 2 is Argon2id.
        algorithm: 2 as Algorithm.Argon2id,
        memoryCost: params.memoryKib,
        timeCost: params.timeCost,
        parallelism: params.parallelism,
      }),
    verify: (hashed, password) => verify(hashed, password),
  };
}
