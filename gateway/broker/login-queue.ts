/**
 * Connections waiting, unread, for their address's turn to log in. An address has at most
 * `mqtt.limits.maxPendingPerAddress` logins in progress; a connection past that used to be closed
 * at once, which in a reconnect storm sent most of a city's devices into ever longer back-offs
 * (100,000 devices over 16 addresses: 138,350 such refusals, the last device back after 134 s while
 * the gateway sat half idle). Now it waits here, first come first served, until one of its
 * address's logins ends; the device only sees a slower CONNACK.
 *
 * Bounded in number by the connections an address may have (`maxConnectionsPerAddress`: a waiting
 * one is one of them) and in time (`loginQueueTimeoutMs`; then closed, and its device backs off). A
 * waiting connection costs its socket and what its stream read before it was held: nothing on the
 * plain MQTT port (accepted paused), what an acceptor read before PAUSE reached it (the hold lasts
 * until the turn, see acceptors.ts `gwRelease`), and at
 * most the stream's buffer (16 KB) on the TLS and WebSocket ports, from a sender that does not wait
 * for its CONNACK (a device's CONNECT is a few hundred bytes).
 */

export class LoginQueue<T extends object> {
  /** Per address, in arrival order (a Map keeps insertion order), each with its timeout. */
  private readonly byAddress = new Map<string, Map<T, NodeJS.Timeout>>();
  private waiting = 0;

  constructor(private readonly timeoutMs: number, private readonly timedOut: (item: T, address: string) => void) {}

  /** `item` waits for its address's turn, at most `timeoutMs`. */
  add(address: string, item: T): void {
    let queue = this.byAddress.get(address);
    if (!queue) this.byAddress.set(address, queue = new Map());
    const timer = setTimeout(() => {
      if (this.remove(address, item)) this.timedOut(item, address);
    }, this.timeoutMs);
    timer.unref();
    queue.set(item, timer);
    this.waiting++;
  }

  /** The address's longest-waiting item, out of the queue: its turn has come. */
  take(address: string): T | undefined {
    const queue = this.byAddress.get(address);
    if (!queue) return undefined;
    const first = queue.keys().next();
    if (first.done) return undefined;
    this.remove(address, first.value);
    return first.value;
  }

  /** Takes `item` out (its connection closed while waiting); false if it was not waiting. */
  remove(address: string, item: T): boolean {
    const queue = this.byAddress.get(address);
    const timer = queue?.get(item);
    if (!queue || timer === undefined) return false;
    clearTimeout(timer);
    queue.delete(item);
    if (queue.size === 0) this.byAddress.delete(address);
    this.waiting--;
    return true;
  }

  get size(): number { return this.waiting; }

  /** Empties the queue (the gateway is closing) and returns what waited, to be closed. */
  clear(): T[] {
    const all: T[] = [];
    for (const queue of this.byAddress.values()) {
      for (const [item, timer] of queue) { clearTimeout(timer); all.push(item); }
    }
    this.byAddress.clear();
    this.waiting = 0;
    return all;
  }
}
