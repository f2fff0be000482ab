/**
 * gateway/broker/quiet-debug.ts: loaded before mqtt-packet, it hands mqtt-packet a `debug` that does
 * nothing (its per-packet debug calls were 5 % of the gateway's CPU), leaves every other namespace to
 * the real package, and mqtt-packet still parses and writes packets.
 */
import { packetDebugQuieted } from '../gateway/broker/quiet-debug.js';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const fromPacket = createRequire(createRequire(import.meta.url).resolve('mqtt-packet'));

describe('mqtt-packet\'s debug calls', () => {
  it('are silenced when DEBUG is not set, and only mqtt-packet\'s', () => {
    expect(process.env.DEBUG).toBeUndefined();
    expect(packetDebugQuieted).toBe(true);
    const createDebug = fromPacket('debug') as (ns: string) => ((...args: unknown[]) => void) & { enabled: boolean; namespace?: string };
    const parser = createDebug('mqtt-packet:parser');
    expect(parser.enabled).toBe(false);
    expect(parser.namespace).toBeUndefined();
    const other = createDebug('aedes:client');
    expect(other.namespace).toBe('aedes:client');
    expect(typeof (createDebug as unknown as { enable: unknown }).enable).toBe('function');
  });

  it('leave mqtt-packet parsing and writing packets as before', () => {
    const mqttPacket = fromPacket('mqtt-packet') as typeof import('mqtt-packet');
    const bytes = mqttPacket.generate({ cmd: 'publish', topic: 'devices/e1/telemetry', payload: Buffer.from('{"speed":1}'), qos: 1, messageId: 7, dup: false, retain: false });
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const packets: unknown[] = [];
    parser.on('packet', (p) => packets.push(p));
    parser.parse(bytes);
    expect(packets).toMatchObject([{ cmd: 'publish', topic: 'devices/e1/telemetry', qos: 1, messageId: 7 }]);
    expect(String((packets[0] as { payload: Buffer }).payload)).toBe('{"speed":1}');
  });
});
