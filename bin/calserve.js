#!/usr/bin/env node
// The `calserve` command: runs src/cli/index.ts through tsx's ESM loader, from any directory.
import { register } from 'tsx/esm/api'

register()
await import(new URL('../src/cli/index.ts', import.meta.url).href)
