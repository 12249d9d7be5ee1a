#!/usr/bin/env node
// Runs the TypeScript CLI directly through tsx, so `npx ben` works on a fresh clone without a build.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
