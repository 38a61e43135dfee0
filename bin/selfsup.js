#!/usr/bin/env node
// The `selfsup` command. The package runs its TypeScript through tsx's loader, so
// `npm install` leaves a working command with no build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/run.ts');
