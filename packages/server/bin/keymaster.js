#!/usr/bin/env node
// The `keymaster` command. A committed, executable shim: dist/ is built after npm links bins.
import '../dist/cli.js';
