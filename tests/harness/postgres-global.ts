/**
 * vitest globalSetup of the `postgres` project (vitest.config.ts): one private PostgreSQL server for
 * the whole run; every test gateway of that project gets a database of its own on it
 * (tests/harness/gateway.ts), so the single-node suites run on the cluster store unchanged.
 */
import type { TestProject } from 'vitest/node';
import { startPostgres } from './postgres.js';

declare module 'vitest' {
  export interface ProvidedContext { postgresUrl: string }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startPostgres();
  project.provide('postgresUrl', server.url);
  return () => server.stop();
}
