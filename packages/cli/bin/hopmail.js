#!/usr/bin/env node
// Node 24 runs the TypeScript source directly (type stripping).
import { main } from '../src/main.ts';

await main();
