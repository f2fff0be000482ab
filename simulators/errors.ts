/**
 * The simulators' catalogue of coded errors. The CLI prints the message and exits with the code's
 * exit status; tests assert on `code`, never on the text.
 */
export const SIM_ERRORS = {
  /** A command-line argument is missing, unknown or malformed. */
  SIM_BAD_ARGS: 2,
  /** No scenario by that name (see `list`). */
  SIM_UNKNOWN_SCENARIO: 2,
  /** The gateway's HTTP API answered with an error (status and the gateway's code in details). */
  SIM_API: 3,
  /** A device id of the plan exists with another kind, so it cannot be reused. */
  SIM_PROVISION_CONFLICT: 3,
  /** The fleet has no free devices of the kinds a scenario needs on one site. */
  SIM_NO_DEVICES: 4,
  /** Devices could not connect to the broker in time. */
  SIM_CONNECT: 5,
  /** A scenario's declared expectations were not met (`scenario --verify`). */
  SIM_EXPECTATION_FAILED: 6,
} as const;
export type SimErrorCode = keyof typeof SIM_ERRORS;

export class SimError extends Error {
  readonly exitCode: number;
  constructor(readonly code: SimErrorCode, message: string, readonly details?: unknown) {
    super(message);
    this.name = 'SimError';
    this.exitCode = SIM_ERRORS[code];
  }
}
