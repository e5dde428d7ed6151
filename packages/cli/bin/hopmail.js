#!/usr/bin/env node
// Node 24 runs the TypeScript source directly (type stripping).
import '../src/main.ts';
