#!/usr/bin/env node
// Runs pbxctl from src/ through tsx (oclif's development mode), for hook tests that must not depend
// on a dist/ build: the hooks exec `node THIS_FILE ARGS...`.
import { register } from 'tsx/esm/api';

register();
const { execute } = await import('@oclif/core');
await execute({ development: true, dir: new URL('../../bin/pbxctl', import.meta.url).href });
