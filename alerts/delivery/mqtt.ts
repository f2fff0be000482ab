/**
 * Queue messages to MQTT: topic `alerts/{queue}` at QoS 1, in cursor order per queue. Aedes hands a
 * message to every subscriber in publish order (its emitter and the session store both keep call
 * order), so a queue's messages are published in order without waiting for each to complete; only
 * `WINDOW` may be incomplete at once. That matters because a publish completes only when every
 * subscriber's socket took it: one subscriber that stops reading (until the broker's drain timeout
 * cuts it off) would otherwise hold every later alert of that queue for everybody. Queues are
 * independent. The broker's durable persistence keeps what an agency with `clean: false` missed.
 */
import type { Logger } from '../../core/log.js';
import type { QueueMessage } from '../queues.js';

export interface MqttPublisher { publish(topic: string, payload: Buffer, qos: 0 | 1): Promise<void> }

export const alertTopic = (queue: string) => `alerts/${queue}`;

interface QueuePump { backlog: Array<{ topic: string; payload: Buffer }>; inFlight: number }

/** Messages of one queue published but not yet taken by every subscriber. */
const WINDOW = 64;

export class MqttDelivery {
  private readonly pumps = new Map<string, QueuePump>();
  private pending = 0;
  private closed = false;

  constructor(private readonly broker: MqttPublisher, private readonly log: Logger, private readonly maxBacklog = 100_000) {}

  readonly onMessage = (message: QueueMessage, json: string): void => {
    if (this.closed) return;
    if (this.pending >= this.maxBacklog) {
      // the queue log keeps it: HTTP pull and SSE can still fetch it by cursor
      this.log.warn({ queue: message.queue, cursor: message.cursor }, 'MQTT alert backlog full; message left to HTTP pull');
      return;
    }
    let pump = this.pumps.get(message.queue);
    if (!pump) this.pumps.set(message.queue, (pump = { backlog: [], inFlight: 0 }));
    pump.backlog.push({ topic: alertTopic(message.queue), payload: Buffer.from(json) });
    this.pending++;
    this.run(pump);
  };

  private run(pump: QueuePump): void {
    while (pump.backlog.length > 0 && pump.inFlight < WINDOW && !this.closed) {
      const next = pump.backlog.shift()!;
      pump.inFlight++;
      this.broker.publish(next.topic, next.payload, 1).catch((err) => {
        this.log.warn({ err, topic: next.topic }, 'publishing an alert message failed');
      }).finally(() => {
        pump.inFlight--;
        this.pending--;
        this.run(pump);
      });
    }
  }

  close(): void {
    this.closed = true;
    for (const pump of this.pumps.values()) pump.backlog.length = 0;
    this.pending = 0;
  }
}
