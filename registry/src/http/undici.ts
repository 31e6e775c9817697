// undici, loaded on its first use: only mirrors and webhooks make outgoing requests, and loading it costs a
// registry process about a quarter of its start-up CPU (200 ms here), which every pod of a busy node pays.
import { createRequire } from 'node:module';

type Undici = typeof import('undici');

const require = createRequire(import.meta.url);
let loaded: Undici | undefined;

export function undici(): Undici {
  loaded ??= require('undici') as Undici;
  return loaded;
}
