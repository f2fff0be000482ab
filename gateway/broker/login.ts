/**
 * MQTT login: who a connection is, decided once per connection before Aedes registers its session.
 *
 * Order matters. A client certificate is judged before anything else and needs no password, so a
 * device that proves itself that way is never held by the slow-down (nothing is being guessed). Then
 * the slow-down (`LoginThrottle`) decides whether and when the password is looked at; only then is it
 * checked: SHA-256 for generated secrets, scrypt for chosen ones (the registry's `checkDevice`), then
 * account tokens. The client id must be the device id, or an account's id / `{id}:{suffix}`. Every
 * refusal is counted, audited (folded per address and reason: `LoginAudit`) and answered with its
 * CONNACK code.
 */
import type { AuthenticateError } from 'aedes';
import type { Logger } from '../../core/log.js';
import type { Metrics } from '../../core/metrics.js';
import type { AuditLog } from '../../core/audit.js';
import type { DeviceCheck, Principal, Registry } from '../../registry/index.js';
import type { Config } from '../config.js';
import { accountMayUseClientId } from './topics.js';
import { LoginAudit, LoginThrottle, type Admission } from './guards.js';
import { addressOf, type AddressedStream, type GatewayClient, type Identity } from './session.js';

/** CONNACK return codes of MQTT 3.1.1 [MQTT-3.2.2.3]. */
const IDENTIFIER_REJECTED = 2;
/** "Try later": a login refused unseen because too many attempts of its username or address already wait. */
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

type AuthCallback = (err: AuthenticateError | null, ok: boolean | null) => void;

export interface LoginDeps {
  config: Config;
  registry: Registry;
  metrics: Metrics;
  log: Logger;
  audit: AuditLog;
}

/** What the broker makes of a login that checked out: the session's identity, and the connection's new state. */
export interface LoginHooks {
  deviceIdentity(id: string): Identity | undefined;
  /** Before a device's session is accepted: cluster mode loads its rule state, which another node may have changed. */
  beforeDevice?(id: string): Promise<void> | void;
  accountIdentity(principal: Principal): Identity;
  accepted(stream: AddressedStream): void;
}

export class Login {
  private readonly logins: LoginThrottle;
  private readonly heldLogins = new Set<NodeJS.Timeout>();
  private readonly loginAudit: LoginAudit;
  private readonly auditTimer: NodeJS.Timeout;

  constructor(private readonly deps: LoginDeps, private readonly hooks: LoginHooks) {
    const limits = deps.config.mqtt.limits;
    this.logins = new LoginThrottle({
      userFreeFailures: limits.loginFailuresBeforeDelay, addressFreeFailures: limits.addressLoginFailuresBeforeDelay,
      windowMs: limits.loginFailureWindowMs, baseDelayMs: limits.loginDelayMs, maxDelayMs: limits.loginMaxDelayMs, maxWaiting: limits.loginMaxWaiting,
    });
    this.loginAudit = new LoginAudit((address, detail) => {
      deps.log.info({ address, ...detail }, 'mqtt logins refused');
      deps.audit.record(`mqtt:${address}`, 'mqtt.login_refused', `address:${address}`, detail);
    });
    this.auditTimer = setInterval(() => this.loginAudit.flush(), 10_000);
    this.auditTimer.unref();
  }

  /** Every refused login: counted, audited (folded), and answered with its CONNACK code. */
  private refuse(client: GatewayClient, callback: AuthCallback, code: number, reason: string, username?: string): void {
    const { registry, metrics, log } = this.deps;
    metrics.connectsRefused.labels(reason).inc();
    // only a registered id is written down: a client that swapped its fields sends its secret as username
    const known = username !== undefined && (registry.getDevice(username) || registry.getAccount(username)) ? username : undefined;
    const address = addressOf(client);
    log.debug({ username: known, address, reason }, 'mqtt login refused');
    this.loginAudit.refused(address, reason, known);
    const err = new Error(reason) as AuthenticateError;
    err.returnCode = code;
    callback(err, null);
  }

  private accept(client: GatewayClient, identity: Identity, callback: AuthCallback): void {
    client.gw = identity;
    this.hooks.accepted(client.conn as AddressedStream);
    callback(null, true);
  }

  /** Aedes' `authenticate` hook (see the order above). */
  readonly authenticate = (client: GatewayClient, username: Readonly<string> | undefined, password: Readonly<Buffer> | undefined, callback: AuthCallback): void => {
    if (!username) return this.refuse(client, callback, BAD_USERNAME_OR_PASSWORD, 'no_credentials');
    const cert = (client.conn as AddressedStream).gwCert;
    if (cert?.verified && this.deps.registry.getDevice(username)) {
      if (!cert.names.includes(username)) return this.refuse(client, callback, NOT_AUTHORIZED, 'cert_mismatch', username);
      return this.loginDevice(client, username, callback);
    }
    const admission = this.logins.admit(addressOf(client), username);
    if (!admission) return this.refuse(client, callback, SERVER_UNAVAILABLE, 'login_throttled', username);
    if (admission.delayMs === 0) return this.checkPassword(client, username, password, admission, callback);
    this.deps.metrics.loginsHeld.inc();
    const timer = setTimeout(() => {
      this.heldLogins.delete(timer);
      if (client.closed) return admission.done();
      this.checkPassword(client, username, password, admission, callback);
    }, admission.delayMs);
    this.heldLogins.add(timer);
  };

  private checkPassword(client: GatewayClient, username: string, password: Buffer | undefined, admission: Admission, callback: AuthCallback): void {
    const check = this.deps.registry.checkDevice(username, password);
    if (!(check instanceof Promise)) return this.passwordChecked(client, username, password, check, admission, callback);
    check.then((result) => this.passwordChecked(client, username, password, result, admission, callback),
      () => this.passwordChecked(client, username, password, { ok: false, reason: 'bad_secret' }, admission, callback));
  }

  private passwordChecked(client: GatewayClient, username: string, password: Buffer | undefined, check: DeviceCheck, admission: Admission, callback: AuthCallback): void {
    admission.done();
    if (client.closed) return;
    const { registry } = this.deps;
    const address = addressOf(client);
    if (check.ok) {
      this.logins.succeeded(address, username);
      const cert = (client.conn as AddressedStream).gwCert;
      // judged after the password, so that this refusal tells only those who know it that the id is a device
      if (cert && !cert.verified && this.deps.config.mqtt.tls.clientCerts === 'required') return this.refuse(client, callback, NOT_AUTHORIZED, 'cert_required', username);
      return this.loginDevice(client, username, callback);
    }
    if (check.reason === 'disabled') return this.refuse(client, callback, NOT_AUTHORIZED, 'disabled', username);
    if (check.reason === 'bad_secret') {
      this.logins.failed(address, username);
      return this.refuse(client, callback, BAD_USERNAME_OR_PASSWORD, 'bad_secret', username);
    }
    const principal = registry.checkAccount(username, password);
    if (!principal) {
      this.logins.failed(address, username);
      return this.refuse(client, callback, BAD_USERNAME_OR_PASSWORD, 'unknown_user', username);
    }
    this.logins.succeeded(address, username);
    if (!accountMayUseClientId(principal.id, client.id, { account: (id) => registry.getAccount(id) !== undefined, device: (id) => registry.getDevice(id) !== undefined })) {
      return this.refuse(client, callback, IDENTIFIER_REJECTED, 'client_id_mismatch', username);
    }
    this.accept(client, this.hooks.accountIdentity(principal), callback);
  }

  /** A device whose secret or certificate checked out. */
  private loginDevice(client: GatewayClient, id: string, callback: AuthCallback): void {
    const device = this.deps.registry.getDevice(id);
    if (!device) return this.refuse(client, callback, BAD_USERNAME_OR_PASSWORD, 'unknown_user');
    if (device.disabled) return this.refuse(client, callback, NOT_AUTHORIZED, 'disabled', id);
    // the client id must equal the device id, so one device cannot take over another's session
    if (client.id !== id) return this.refuse(client, callback, IDENTIFIER_REJECTED, 'client_id_mismatch', id);
    const ready = this.hooks.beforeDevice?.(id);
    if (ready instanceof Promise) {
      ready.then(() => this.acceptDevice(client, id, callback), (err: unknown) => {
        this.deps.log.error({ err, deviceId: id }, 'device state could not be loaded; login refused (the device retries)');
        this.refuse(client, callback, SERVER_UNAVAILABLE, 'store_unavailable', id);
      });
      return;
    }
    this.acceptDevice(client, id, callback);
  }

  private acceptDevice(client: GatewayClient, id: string, callback: AuthCallback): void {
    if (client.closed) return;
    const identity = this.hooks.deviceIdentity(id);
    if (!identity) return this.refuse(client, callback, BAD_USERNAME_OR_PASSWORD, 'unknown_user');
    this.accept(client, identity, callback);
  }

  /**
   * The HTTP device API's Basic auth: the same slow-down as MQTT logins (one budget per address and
   * per device id across both, so switching protocol buys no fresh guesses), the same check, and
   * refusals audited with the MQTT ones.
   */
  async checkDeviceSecret(address: string, id: string, secret: string): Promise<DeviceCheck | { ok: false; reason: 'throttled' }> {
    const admission = this.logins.admit(address, id);
    if (!admission) {
      this.loginAudit.refused(address, 'http_login_throttled', this.deps.registry.getDevice(id) ? id : undefined);
      return { ok: false, reason: 'throttled' };
    }
    try {
      if (admission.delayMs > 0) {
        this.deps.metrics.loginsHeld.inc();
        await new Promise((resolve) => setTimeout(resolve, admission.delayMs).unref());
      }
      let check: DeviceCheck;
      try { check = await this.deps.registry.checkDevice(id, secret); } catch { check = { ok: false, reason: 'bad_secret' }; }
      if (check.ok) {
        this.logins.succeeded(address, id);
      } else {
        if (check.reason !== 'disabled') this.logins.failed(address, id);
        this.loginAudit.refused(address, `http_${check.reason}`, check.reason === 'unknown_device' ? undefined : id);
      }
      return check;
    } finally {
      admission.done();
    }
  }

  /** Before the broker closes: logins still held by the slow-down are dropped. */
  cancelHeld(): void {
    for (const timer of this.heldLogins) clearTimeout(timer);
    this.heldLogins.clear();
  }

  /** After the broker closed: the refusals still being folded are written. */
  close(): void {
    clearInterval(this.auditTimer);
    this.loginAudit.flush(true);
  }
}
