/**
 * Leader election on a PostgreSQL advisory lock, against a real server: one leader among several
 * nodes, a new one when the leader stops or its connection is killed, and none left leading after
 * stopping. (Cluster mode's timers will run on the leader; this is the election alone.)
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LeaderElection } from '../core/db/leader.js';
import { startPostgres, type PostgresHandle } from './harness/postgres.js';
import { waitFor } from './harness/gateway.js';

let pg: PostgresHandle;
beforeAll(async () => { pg = await startPostgres(); }, 60_000);
afterAll(async () => { await pg?.stop(); });

const nodes: Array<{ name: string; election: LeaderElection; changes: boolean[] }> = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.election.stop();
});

function node(name: string, key = 4242): (typeof nodes)[number] {
  const changes: boolean[] = [];
  const election = new LeaderElection({ connectionString: pg.url, key, retryMs: 100, onChange: (leading) => changes.push(leading) });
  const n = { name, election, changes };
  nodes.push(n);
  election.start();
  return n;
}

const leaders = () => nodes.filter((n) => n.election.isLeader).map((n) => n.name);

describe('leader election (PostgreSQL advisory lock)', () => {
  it('elects exactly one of three nodes, and it stays leader while it lives', async () => {
    node('a'); node('b'); node('c');
    const [first] = await waitFor(() => (leaders().length === 1 ? leaders() : undefined));
    // several more rounds of attempts by the followers change nothing
    const held = (await pg.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted")).rows[0]!.n;
    expect(held).toBe(1);
    // each follower's attempt is a moment it could have taken over: after three each, still one leader
    const followers = nodes.filter((n) => n.name !== first);
    const from = followers.map((n) => n.election.attempts);
    await waitFor(() => followers.every((n, i) => n.election.attempts >= from[i]! + 3));
    expect(leaders()).toEqual([first]);
    for (const n of nodes) expect(n.changes).toEqual(n.name === first ? [true] : []);
  });

  it('hands over when the leader stops, and a stopped node no longer leads', async () => {
    node('a'); node('b');
    const [first] = await waitFor(() => (leaders().length === 1 ? leaders() : undefined));
    const leader = nodes.find((n) => n.name === first)!;
    await leader.election.stop();
    expect(leader.election.isLeader).toBe(false);
    const [second] = await waitFor(() => (leaders().length === 1 ? leaders() : undefined), 5000);
    expect(second).not.toBe(first);
    expect(leader.changes).toEqual([true, false]);
  });

  it('hands over when the leader\'s connection is killed (a crashed or cut-off node): the server released its lock', async () => {
    node('a'); node('b');
    const [first] = await waitFor(() => (leaders().length === 1 ? leaders() : undefined));
    const leader = nodes.find((n) => n.name === first)!;
    const killed = await pg.pool.query<{ pid: number }>(
      "SELECT pg_terminate_backend(pid) AS done, pid FROM pg_locks WHERE locktype = 'advisory' AND granted");
    expect(killed.rows).toHaveLength(1);
    // the old leader learns it from its own connection (seen in what it was told, not by polling its state)
    await waitFor(() => leader.changes.length >= 2, 10_000);
    expect(leader.changes.slice(0, 2)).toEqual([true, false]);
    // One leader again, on another server session: the killed one's lock was released. The old
    // leader waits three retry periods before trying again, so the other node usually takes it; on
    // a loaded machine whose attempts come late, the old one, connected again, may (either is right).
    const [second] = await waitFor(() => (leaders().length === 1 ? leaders() : undefined), 10_000);
    const holder = await pg.pool.query<{ pid: number }>("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted");
    expect(holder.rows).toHaveLength(1);
    expect(holder.rows[0]!.pid).not.toBe(killed.rows[0]!.pid);
    // and the lead stays there: three more attempts of the follower change nothing (the old
    // connection's late 'end' once made the old leader flap, ending each new connection in turn)
    const follower = nodes.find((n) => n.name !== second)!;
    const changes = nodes.map((n) => n.changes.length);
    const from = follower.election.attempts;
    await waitFor(() => follower.election.attempts >= from + 3, 5000);
    expect(leaders()).toEqual([second]);
    expect(nodes.map((n) => n.changes.length)).toEqual(changes);
  });

  it('keys are independent: one leader per key', async () => {
    node('a', 1); node('b', 2);
    await waitFor(() => (leaders().length === 2 ? leaders() : undefined));
  });
});
