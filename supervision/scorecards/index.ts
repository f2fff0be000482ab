/**
 * Scorecards, the ranking (红黑榜) and the period's reports. (Being built: see the note.)
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Clock } from '../../core/clock.js';
import type { Registry } from '../../registry/index.js';
import type { Presence } from '../../ingest/index.js';
import type { AlertFacts } from '../../alerts/index.js';
import type { RankingConfig, ScorecardsConfig } from '../config.js';
import type { OrderSource, VisitSource } from '../facts.js';

export interface ScorecardsDeps {
  registry: Registry;
  alerts: Pick<AlertFacts, 'inPeriod'>;
  visits: VisitSource;
  orders: OrderSource;
  /** Device online rate of a company's sites. */
  presence: Pick<Presence, 'get'>;
  clock: Clock;
  config: { scorecards: ScorecardsConfig; ranking: RankingConfig };
  /** Periods (2026-11, 2026-Q4) are calendar months and quarters in this time zone. */
  timeZone: string;
}

export class Scorecards {
  constructor(private readonly deps: ScorecardsDeps) {}

  /** /api/v1 routes. */
  readonly routes: FastifyPluginAsync = async () => {};
  /** The public ranking page (no login), registered only when `ranking.public` is on. */
  readonly publicRoutes: FastifyPluginAsync = async () => {};
}
