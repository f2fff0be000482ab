/**
 * A socket the gateway hands to an acceptor that is out of open files (gateway/broker/acceptors.ts,
 * `adopt`). The acceptor cannot take the descriptor and says so (NODE_HANDLE_NACK); Node 20 then sends
 * the socket again in a form the receiver acknowledges twice once it has room, and the second
 * acknowledgement fails an internal assertion that ends the sending process: the gateway, found dead
 * in a 100,000-device reconnect storm. Here an acceptor's limit is lowered with `prlimit` while
 * connections arrive and leave, as in a storm.
 */
import { execFileSync } from 'node:child_process';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { openConnection, startAcceptors, stopAcceptors } from './harness/acceptors.js';

afterEach(stopAcceptors);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The soft limit only: it can be raised again without privilege. */
function limitFiles(pid: number, n: number): void {
  execFileSync('prlimit', ['--pid', String(pid), `--nofile=${n}:`]);
}

describe('acceptors: handing a socket to an acceptor out of open files', () => {
  it('the gateway survives; the sockets the acceptor could not take are closed, and it takes new ones once it has room', async () => {
    const streams: Duplex[] = [];
    // the port is not shared: every connection is accepted here and handed over (as during a start)
    const { acceptors: a, port } = await startAcceptors({ count: 1, onStream: (s) => { streams.push(s); s.on('error', () => undefined); s.once('data', () => s.write('k')); }, onExit: () => undefined }, { share: false });
    const open = () => {
      const s = openConnection(port);
      // answered once its bytes came through the acceptor (a write from here could reach it before the socket does)
      s.write('x');
      return s;
    };
    // the acceptor is up (it answers) before its limit is lowered
    const first = open();
    await new Promise((resolve) => first.once('data', resolve));
    const pid = a.pids()[0]!;
    limitFiles(pid, 40);
    // 80 arrive, each leaving 20 ms after it came: the acceptor runs out of files, then has room again
    let hung = 0;
    await Promise.all(Array.from({ length: 80 }, (_, i) => new Promise<void>((resolve) => {
      const s = open();
      s.once('data', () => { setTimeout(() => s.destroy(), 20); });
      const giveUp = setTimeout(() => { hung++; s.destroy(); }, 5000 + i);
      s.once('close', () => { clearTimeout(giveUp); resolve(); });
    })));
    // each was answered, or closed when the acceptor could not take it: its device reconnects
    expect(hung).toBe(0);
    // this process (the gateway's place) is still here, and the acceptor takes connections again
    limitFiles(pid, 1024);
    const later = open();
    const answer = await Promise.race([new Promise((resolve) => later.once('data', (d) => resolve(String(d)))), sleep(5000).then(() => 'no answer')]);
    expect(answer).toBe('k');
    expect(a.pids()).toEqual([pid]);
    expect(streams.length).toBeGreaterThan(2);
  });
});
