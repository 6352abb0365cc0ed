// The same 6-state machine on aws-local-stepfunctions 3.0.0, tasks overridden with local
// JS functions. Usage: node als-bench.mjs <node_modules dir> <executions> <definition file>
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const [modules, nArg, defFile] = process.argv.slice(2);
const require = createRequire(path.join(modules, 'x.js'));
const { StateMachine } = require('aws-local-stepfunctions');
const definition = JSON.parse(readFileSync(defFile, 'utf8'));
const n = Number(nArg);
const sm = new StateMachine(definition);
const overrides = {
  taskResourceLocalHandlers: {
    Enrich: async (input) => ({ ...input, enriched: true }),
    Notify: async (input) => ({ notified: input.id }),
  },
};
async function batch(count) {
  const runs = [];
  for (let i = 0; i < count; i++) {
    runs.push(sm.run({ id: i, kind: i % 2 ? 'odd' : 'even' }, { overrides }).result);
  }
  return Promise.all(runs);
}
// The same warm-up as the Rust side: a tenth of the executions, untimed (JIT, heap growth).
await batch(Math.floor(n / 10));
const t0 = process.hrtime.bigint();
const results = await batch(n);
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
if (results.length !== n || !results.every((r) => r && r.notified !== undefined)) {
  throw new Error('aws-local-stepfunctions: unexpected results ' + JSON.stringify(results[0]));
}
console.log(JSON.stringify({ executions: n, seconds: secs, perSecond: n / secs }));
