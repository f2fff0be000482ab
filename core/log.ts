/** Structured JSON logs (pino, the logger Fastify uses). Secrets are redacted by path. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'iot-gateway' },
    redact: { paths: ['password', 'secret', 'token', '*.password', '*.secret', '*.token', 'req.headers.authorization'], censor: '[redacted]' },
  });
}
