/**
 * Prometheus metrics (prom-client), one registry per gateway instance so tests can run several.
 * Hot-path counters are incremented once per group commit, not per message.
 */
import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  let store: () => { ok: boolean; pendingWrites: number } = () => ({ ok: true, pendingWrites: 0 });
  let waitingLogins = () => 0;
  let relay = { routed: () => 0, forwardingAll: () => false };
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
  const m = {
    registry,
    connections: new Gauge({ name: 'gateway_mqtt_connections', help: 'Connected MQTT clients', registers: [registry] }),
    connectsRefused: new Counter({ name: 'gateway_mqtt_connects_refused_total', help: 'MQTT connections refused, by reason', labelNames: ['reason'], registers: [registry] }),
    httpConnectsRefused: new Counter({ name: 'gateway_http_connections_refused_total', help: 'HTTP connections closed before any request: a trusted proxy sent no valid PROXY header (http.proxyProtocol)', labelNames: ['reason'], registers: [registry] }),
    loginsQueued: new Counter({ name: 'gateway_mqtt_logins_queued_total', help: 'MQTT connections that waited, unread, for a login of their address to end (past mqtt.limits.maxPendingPerAddress); those that waited past mqtt.limits.loginQueueTimeoutMs are refused as login_queue_timeout', registers: [registry] }),
    loginsWaiting: new Gauge({ name: 'gateway_mqtt_logins_waiting', help: 'MQTT connections waiting now for a login of their address to end', registers: [registry], collect() { this.set(waitingLogins()); } }),
    /** Where the waiting-logins gauge reads from (the broker's line of logins). */
    watchLoginsWaiting(count: () => number) { waitingLogins = count; },
    loginsHeld: new Counter({ name: 'gateway_mqtt_logins_held_total', help: 'MQTT logins held back by the login slow-down before their credentials were checked', registers: [registry] }),
    publishThrottled: new Counter({ name: 'gateway_publish_throttled_total', help: 'Device publishes held back by the per-device rate limit', registers: [registry] }),
    relayCopies: new Counter({ name: 'gateway_relay_copies_total', help: 'Live copies of device messages (and of rejection notices on devices/{id}/errors) routed through Aedes to MQTT subscribers; in cluster mode each is a Redis PUBLISH. A copy nobody could receive is not routed (see gateway_relay_forward_all)', registers: [registry], collect() { this.reset(); this.inc(relay.routed()); } }),
    relayForwardAll: new Gauge({ name: 'gateway_relay_forward_all', help: '1 while this node routes every live copy, also those nobody may receive: in cluster mode from the start, or from a loss of Redis, until it has read the topic filters granted on the other nodes; 0 while it routes only copies somebody could receive', registers: [registry], collect() { this.set(relay.forwardingAll() ? 1 : 0); } }),
    /** Where the relay metrics read from (the broker's forwarder and audience). */
    watchRelay(routed: () => number, forwardingAll: () => boolean) { relay = { routed, forwardingAll }; },
    relaySkipped: new Counter({ name: 'gateway_relay_skipped_total', help: 'Live copies of device messages not sent to MQTT subscribers, by reason (subscriber_behind: more than mqtt.limits.relayBufferBytes waiting for that subscriber, one per subscriber; in_flight: mqtt.limits.relayInFlight copies already being routed, one per message). Stored data is not affected', labelNames: ['reason'], registers: [registry] }),
    messagesReceived: new Counter({ name: 'gateway_messages_received_total', help: 'Device messages received, by channel', labelNames: ['channel'], registers: [registry] }),
    objectsValid: new Counter({ name: 'gateway_objects_valid_total', help: 'Valid readings and events accepted, by kind', labelNames: ['kind'], registers: [registry] }),
    rejected: new Counter({ name: 'gateway_rejected_total', help: 'Rejected messages or batch objects (dead letters), by reason', labelNames: ['reason'], registers: [registry] }),
    deadLettersDropped: new Counter({ name: 'gateway_dead_letters_pruned_total', help: 'Oldest dead letters deleted to keep the store under its cap', registers: [registry] }),
    pointsWritten: new Counter({ name: 'gateway_points_written_total', help: 'Points written to the time-series backend', labelNames: ['backend'], registers: [registry] }),
    pointsBuffered: new Gauge({ name: 'gateway_points_buffered', help: 'Points accepted but not yet in the backend (outage buffer)', registers: [registry] }),
    bufferBytes: new Gauge({ name: 'gateway_buffer_bytes', help: 'Bytes in the on-disk outage buffer', registers: [registry] }),
    pointsDropped: new Counter({ name: 'gateway_points_dropped_total', help: 'Points dropped, by reason (buffer_cap: oldest buffered points dropped at the disk cap)', labelNames: ['reason'], registers: [registry] }),
    writeLatency: new Histogram({ name: 'gateway_write_latency_seconds', help: 'Latency of one batch write to the backend', labelNames: ['backend'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] }),
    writeErrors: new Counter({ name: 'gateway_write_errors_total', help: 'Failed batch writes to the backend (retried)', labelNames: ['backend'], registers: [registry] }),
    publicNoticeLimited: new Counter({ name: 'gateway_public_notice_limited_total', help: 'Public elevator notice requests refused by the per-address rate limit', registers: [registry] }),
    ingestDeferred: new Counter({ name: 'gateway_ingest_deferred_total', help: 'Device messages not taken (not acknowledged; the device resends) because the store is unreachable and too many writes wait for it', registers: [registry] }),
    storeUp: new Gauge({ name: 'gateway_store_up', help: '1 when the durable store (SQLite, or PostgreSQL in cluster mode) takes writes, 0 while it does not', registers: [registry], collect() { this.set(store().ok ? 1 : 0); } }),
    storePendingWrites: new Gauge({ name: 'gateway_store_pending_writes', help: 'Writes made but not yet committed to PostgreSQL (cluster mode; always 0 on SQLite)', registers: [registry], collect() { this.set(store().pendingWrites); } }),
    /** Where the store gauges read from (the composition root gives the store's health). */
    watchStore(health: () => { ok: boolean; pendingWrites: number }) { store = health; },
    storeCommits: new Counter({ name: 'gateway_store_commits_total', help: 'Write-behind commits to PostgreSQL (cluster mode)', registers: [registry] }),
    storeCommitFailures: new Counter({ name: 'gateway_store_commit_failures_total', help: 'Failed commit attempts to PostgreSQL, by kind (transient: retried; refused: dropped, the messages not acknowledged)', labelNames: ['kind'], registers: [registry] }),
    storeCommitLatency: new Histogram({ name: 'gateway_store_commit_seconds', help: 'One write-behind commit to PostgreSQL (cluster mode)', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [registry] }),
    protocolMessages: new Counter({ name: 'gateway_protocol_messages_total', help: 'Field protocol messages (HTTP devices, OneNET, CTWing, GB/T 26875.3, Modbus), by protocol and outcome (accepted, rejected, duplicate, bad_signature, unknown_device, bad_frame, undecodable, heartbeat, ignored, poll_ok, poll_failed, poll_timeout, …)', labelNames: ['protocol', 'outcome'], registers: [registry] }),
    protocolConnections: new Gauge({ name: 'gateway_protocol_connections', help: 'Open field protocol connections (GB/T 26875.3 transmission devices, Modbus controllers), by protocol', labelNames: ['protocol'], registers: [registry] }),
    commitLatency: new Histogram({ name: 'gateway_ingest_commit_seconds', help: 'Durable append of one ingest group (before devices are acknowledged)', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25], registers: [registry] }),
  };
  // both reasons are exposed from the start, at 0, so that a rate over them is defined
  for (const reason of ['subscriber_behind', 'in_flight']) m.relaySkipped.labels(reason).inc(0);
  for (const kind of ['transient', 'refused']) m.storeCommitFailures.labels(kind).inc(0);
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
