import { defineConfig } from 'vitest/config';

/**
 * The suites that also run with every gateway in cluster mode (on PostgreSQL, with its MQTT sessions
 * and fan-out on a Redis of its own; tests/harness/gateway.ts): everything that
 * goes through the store (registry, ingest, alerts, queues, delivery, restarts). The others test
 * parts that do not touch it (simulators, the Influx writer, config parsing, the broker's guards),
 * or SQLite itself (alerts-commit.test.ts makes SQLite statements fail with a trigger; PostgreSQL's
 * failures are tested in cluster-store.test.ts).
 */
export const POSTGRES_SUITES = [
  'tests/alerts-config.test.ts',
  'tests/alerts-corrections-elevator.test.ts',
  'tests/alerts-corrections-fire.test.ts',
  'tests/alerts-corrections-routing.test.ts',
  'tests/alerts-corrections-water.test.ts',
  'tests/alerts-delivery.test.ts',
  'tests/alerts-drainage.test.ts',
  'tests/alerts-escalation.test.ts',
  'tests/alerts-fire-zone.test.ts',
  'tests/alerts-last-seen.test.ts',
  'tests/alerts-lifecycle.test.ts',
  'tests/alerts-mqtt-persistence.test.ts',
  'tests/alerts-rescue.test.ts',
  'tests/alerts-rules.test.ts',
  'tests/alerts-scope.test.ts',
  'tests/api-registry.test.ts',
  'tests/area-roles.test.ts',
  'tests/gb26875.test.ts',
  'tests/handover.test.ts',
  'tests/modbus.test.ts',
  'tests/notifications.test.ts',
  'tests/notify-contacts.test.ts',
  'tests/nbiot-sleep.test.ts',
  'tests/nbiot.test.ts',
  'tests/orders.test.ts',
  'tests/registry-import.test.ts',
  'tests/auth-acl.test.ts',
  'tests/bad-payloads.test.ts',
  'tests/device-http.test.ts',
  'tests/device-path.test.ts',
  'tests/restart.test.ts',
  'tests/scorecards.test.ts',
  'tests/security-actions.test.ts',
  'tests/sse.test.ts',
  'tests/visits.test.ts',
];

export default defineConfig({
  test: {
    // real brokers, databases and browsers: give them time, and keep 2 cores from thrashing
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'sqlite', include: ['tests/**/*.test.ts'] } },
      {
        extends: true,
        test: { name: 'postgres', include: POSTGRES_SUITES, globalSetup: ['tests/harness/postgres-global.ts'], env: { TEST_STORE: 'postgres' } },
      },
    ],
  },
});
