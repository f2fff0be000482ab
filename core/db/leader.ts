/**
 * One node of a cluster runs the cluster-wide timers (offline checks, deadlines, escalation,
 * schedules). Which one is decided by a PostgreSQL session-level advisory lock: the node whose
 * connection holds it leads. PostgreSQL releases the lock the moment that connection ends (the node
 * crashed, was killed, lost its network), so another node's next attempt takes it over: within one
 * `retryMs`, with no lease to expire and no clock to trust.
 *
 * The lock lives on a connection of its own, outside the pool, so that no query of the node can
 * borrow it, and a failed keep-alive query on it counts as leadership lost at once: a node that
 * cannot prove it still holds the lock must stop acting as leader before another one starts.
 */
import pg from 'pg';

export interface LeaderOptions {
  connectionString: string;
  /** The lock's key: one per kind of leadership (two distinct keys never exclude each other). */
  key: number;
  /** How often a follower tries to take the lock, and a leader checks it still has its connection. */
  retryMs: number;
  onChange: (leading: boolean) => void;
  onError?: (err: unknown) => void;
}

/**
 * Retry periods a leader waits after losing its connection before it tries again: a node just cut
 * off is the likelier one to be in trouble, and the others, trying every period, take the lock
 * first. Without it the node whose connection was killed took the lock straight back in some runs.
 */
const ROUNDS_AFTER_LOSS = 3;

export class LeaderElection {
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private stopped = false;
  private busy = false;
  private tries = 0;
  private justLost = false;
  private firstAttempt: Promise<void> | undefined;

  constructor(private readonly opts: LeaderOptions) {}

  get isLeader(): boolean { return this.leading; }

  /** Attempts to take the lock so far (each a moment at which this node could have become leader). */
  get attempts(): number { return this.tries; }

  /** Starts trying; resolves once the first attempt is over (led or not), so a lone node leads before it serves. */
  start(): Promise<void> {
    this.firstAttempt ??= this.attempt();
    return this.firstAttempt;
  }

  private schedule(): void {
    if (this.stopped) return;
    const rounds = this.justLost ? ROUNDS_AFTER_LOSS : 1;
    this.justLost = false;
    this.timer = setTimeout(() => void this.attempt(), rounds * this.opts.retryMs);
  }

  private async attempt(): Promise<void> {
    if (this.stopped || this.busy) return;
    this.busy = true;
    try {
      if (!this.client) {
        // A partition must end the lead within seconds, not when TCP gives up (minutes); a busy but
        // reachable server (a loaded machine) must not make the lead flap: a few retry periods.
        const client = new pg.Client({ connectionString: this.opts.connectionString, query_timeout: Math.max(2000, 5 * this.opts.retryMs), keepAlive: true });
        // A dropped connection has dropped the lock with it. Only this connection's own events count
        // while it is the current one: the 'end' of one given up earlier (ended by `lost`) arrives
        // later and, taken for the current one's, ended each new connection in turn: the node
        // reconnected in a loop and the lead flapped between it and the others after a cut.
        const dropped = (err: unknown) => { if (this.client === client) this.lost(err); };
        client.on('error', (err) => dropped(err));
        client.on('end', () => dropped(undefined));
        await client.connect();
        this.client = client;
      }
      if (this.leading) {
        // still connected means still holding: the lock is the session's
        await this.client.query('SELECT 1');
      } else {
        const r = await this.client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [this.opts.key]);
        this.tries++;
        if (r.rows[0]?.locked && !this.stopped) this.set(true);
      }
    } catch (err) {
      this.lost(err);
    } finally {
      this.busy = false;
      this.schedule();
    }
  }

  /** The connection is gone or failed: whatever it held is released by the server, so this node no longer leads. */
  private lost(err: unknown): void {
    if (err !== undefined) this.opts.onError?.(err);
    const client = this.client;
    this.client = undefined;
    if (client) client.end().catch(() => undefined);
    // a leader cut off waits; a follower that could not connect tries again at its usual pace
    this.justLost = this.leading;
    this.set(false);
  }

  private set(leading: boolean): void {
    if (this.leading === leading) return;
    this.leading = leading;
    this.opts.onChange(leading);
  }

  /** Gives the lead up (closing the connection releases the lock at once) and stops trying. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    this.set(false);
    if (client) await client.end().catch(() => undefined);
  }
}
