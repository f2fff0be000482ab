export { SCENARIOS, getScenario, validateScenario } from './catalogue.js';
export type { Scenario, Step, Expectation, Matcher, AlertIntent, AlertOutcome } from './types.js';
export { runScenario, describeStep, type ScenarioRun, type RunScenarioOptions, type StepRecord } from './runner.js';
export { verifyScenario, matches, rowMatches, type ExpectationResult } from './verify.js';
export { runScenarioStandalone, scenarioDeviceIds, SCENARIO_STREET, type StandaloneOptions, type StandaloneResult } from './standalone.js';
