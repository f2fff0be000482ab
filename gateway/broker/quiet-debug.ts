/**
 * mqtt-packet's parser and writer call `debug(...)` some fifty times per packet. With debugging off,
 * each call still collects its arguments before the `debug` package finds it has nothing to do: 5 %
 * of the gateway's CPU at full ingest, and garbage to collect (bench --profile). Unless DEBUG is set,
 * the `debug` package mqtt-packet loads hands it a function that does nothing for its namespaces;
 * every other namespace, and its whole API, is the package's own.
 *
 * It must run before mqtt-packet is loaded: gateway/app.ts imports it first. When mqtt-packet is
 * already loaded (a process that used mqtt.js before starting a gateway), it changes nothing.
 */
import { createRequire } from 'node:module';

type CreateDebug = ((namespace: string) => unknown) & Record<string, unknown>;

const QUIETED = 'mqtt-packet:';

function silent(): void {}
Object.defineProperty(silent, 'enabled', { value: false });

/** Whether mqtt-packet gets the silent `debug` (false when DEBUG is set or it was loaded already). */
export const packetDebugQuieted: boolean = (() => {
  if (process.env.DEBUG) return false;
  const fromHere = createRequire(import.meta.url);
  const packetMain = fromHere.resolve('mqtt-packet');
  const fromPacket = createRequire(packetMain);
  if (fromPacket.cache[fromPacket.resolve('./parser.js')]) return false;
  const debugPath = fromPacket.resolve('debug');
  const real = fromPacket('debug') as CreateDebug;
  const cached = fromPacket.cache[debugPath];
  if (!cached) return false;
  const quiet = Object.assign((namespace: string) => (namespace.startsWith(QUIETED) ? silent : real(namespace)), real);
  cached.exports = quiet;
  return true;
})();
