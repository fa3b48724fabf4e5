#!/usr/bin/env node
// The CLI is compiled by `npm ci` (the prepare step); this file only loads it.
import { main } from '../dist/cli.js';

process.exitCode = await main(process.argv.slice(2));
