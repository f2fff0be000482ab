/**
 * The operator console (值班台): a web page served by the gateway at `/` (plain HTML, CSS and ES
 * modules from `public/`, no build step, nothing from outside), and the two API calls it needs
 * beyond the alerts and registry APIs:
 *
 * - `GET /api/v1/console/stream`: server-sent events with every change of the alerts the caller
 *   may see (see live.ts for why this is not a queue stream). A browser's EventSource cannot send
 *   the bearer token, so the page reads it with fetch().
 * - `GET /api/v1/console/summary`: counts of the caller's alerts per type and state, for the
 *   overview, counted in SQL (the ledger may hold many closed alerts).
 *
 * The page itself is public (the gateway authenticates the routes under `/api/v1` only): it holds no
 * data, and everything it shows comes through the API with the account token the operator signs in with.
 */
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { Alerts } from '../../alerts/index.js';
import type { StreamGate } from '../../core/streams.js';
import { ConsoleLive, type LiveOptions } from './live.js';
import { defaultPublicDir, loadStaticFiles, loadVendorFiles, type StaticFile } from './static.js';

export interface ConsoleDeps {
  alerts: Pick<Alerts, 'onChange' | 'clock' | 'ledger'>;
  /** Default: `dashboards/console/public` in the repo (found from this module, in dist/ or in the source). */
  publicDir?: string | undefined;
  live?: Partial<LiveOptions> | undefined;
  /** Open streams per account, shared with the queue streams; revoking an account ends its streams through it. */
  streams?: StreamGate | undefined;
}

const LIVE_DEFAULTS: LiveOptions = {
  // like the queue streams (alerts.sse.heartbeat): well under the usual 60 s proxy idle timeout
  heartbeatMs: 15_000,
  // operators at their desks, not agencies' systems (those use the queues): a few dozen at most
  maxStreams: 200,
  // an alert change is a few kB; 1 MiB waiting means the reader is gone or stuck
  maxBufferedBytes: 1024 * 1024,
  // a disabled account stops hearing within this; a reconnect costs one list read
  maxAgeMs: 15 * 60_000,
};

/**
 * The page may load only itself: no inline script, no other origin (the token is in sessionStorage,
 * so script injection is what must be impossible). Views build the DOM with textContent, never HTML.
 * `media-src 'self'`: the alarm sound (/alarm.wav). default-src would allow it too; it is spelled out
 * so that tightening default-src one day does not silence the alarm.
 */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export function consolePlugin(deps: ConsoleDeps): FastifyPluginAsync {
  // the console's own files, and the chart library (scorecards) from node_modules
  const files = new Map([...loadStaticFiles(deps.publicDir ?? defaultPublicDir()), ...loadVendorFiles()]);
  const live = new ConsoleLive(deps.alerts.clock, { ...LIVE_DEFAULTS, ...deps.live }, deps.streams);
  const unsubscribe = deps.alerts.onChange(live.onChange);

  const serve = (file: StaticFile) => async (req: { headers: Record<string, string | string[] | undefined> }, reply: FastifyReply) => {
    reply.header('cache-control', 'no-cache').header('etag', file.etag)
      .header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer');
    if (file.type.startsWith('text/html')) reply.header('content-security-policy', CSP);
    if (req.headers['if-none-match'] === file.etag) return reply.status(304).send();
    return reply.type(file.type).send(file.body);
  };


  return async (app) => {
    app.get('/', { schema: { hide: true }, config: { public: true } }, serve(files.get('/index.html')!));
    for (const [path, file] of files) app.get(path, { schema: { hide: true }, config: { public: true } }, serve(file));

    app.get('/api/v1/console/stream', {
      schema: { tags: ['console'], summary: 'Live changes of every alert in your scope (server-sent events: hello, alert, time)' },
    }, async (req, reply) => {
      // the caller first (401 if nobody authenticated), then the caps, all before anything is registered
      const principal = req.principal;
      live.admit(principal);
      reply.hijack();
      live.open(principal, reply.raw);
    });

    app.get('/api/v1/console/summary', {
      schema: { tags: ['console'], summary: 'Counts of the alerts in your scope per type and state' },
    }, async (req) => {
      const rows = await deps.alerts.ledger.countByTypeAndState(req.principal);
      const states: Record<string, number> = {};
      const types: Record<string, Record<string, number>> = {};
      for (const r of rows) {
        states[r.state] = (states[r.state] ?? 0) + r.n;
        (types[r.type] ??= {})[r.state] = r.n;
      }
      return { now: deps.alerts.clock.now(), states, types };
    });

    // before the server closes: it would otherwise wait for the open streams
    app.addHook('preClose', async () => {
      unsubscribe();
      live.close();
    });
  };
}
