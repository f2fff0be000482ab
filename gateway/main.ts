/** Entry point of `npm start`: load settings, start the gateway, stop cleanly on SIGINT / SIGTERM. */
import { ConfigError, loadConfig } from './config.js';
import { startGateway } from './app.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const gateway = await startGateway(config);
  if (gateway.generatedAdminToken) {
    // shown once, on the console only: the JSON logs never carry a secret
    process.stderr.write(`\n  Admin token (shown once, keep it safe) / 管理员令牌（仅显示一次，请妥善保存）:\n\n    ${gateway.generatedAdminToken}\n\n  Set ADMIN_TOKEN to choose your own.\n\n`);
  }
  const ports = gateway.ports();
  const https = Boolean(config.http.tls.certFile && config.http.tls.keyFile);
  const web = `${https ? 'https' : 'http'}://localhost:${ports.http}`;
  const mqtts = ports.mqtts ? `  MQTT/TLS mqtts://localhost:${ports.mqtts}` : '';
  process.stderr.write(`Gateway ready / 网关已启动: MQTT mqtt://localhost:${ports.mqtt}${mqtts}  ${https ? 'HTTPS' : 'HTTP'} ${web}  (API docs ${web}/docs, MQTT over ${https ? 'wss' : 'ws'} at /mqtt)\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    gateway.log.info({ signal }, 'stopping');
    gateway.close().then(() => process.exit(0), (err) => {
      gateway.log.error({ err }, 'error while stopping');
      process.exit(1);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err) => {
  process.stderr.write(`gateway failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
