// Runs a wasm32-wasip1 program under node's V8: node --no-warnings examples/run_wasi.mjs FILE.wasm [ARGS]
// Imports other than WASI (the proxy-wasm host ABI linked in with the library) are stubbed with
// functions that throw: a benchmark must not reach them.
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import { argv } from 'node:process';

const wasi = new WASI({ version: 'preview1', args: argv.slice(2), env: {} });
const module = await WebAssembly.compile(await readFile(argv[2]));
const imports = wasi.getImportObject();
for (const { module: m, name } of WebAssembly.Module.imports(module)) {
  imports[m] ??= {};
  imports[m][name] ??= () => { throw new Error(`host import ${m}.${name} called`); };
}
const instance = await WebAssembly.instantiate(module, imports);
// The library (proxy-wasm) also exports `_initialize`, which node's WASI.start refuses next to
// `_start`; hand it only what a command needs.
const { memory, _start } = instance.exports;
wasi.start({ exports: { memory, _start } });
