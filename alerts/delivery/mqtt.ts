/**
 * Queue messages to MQTT: topic `alerts/{queue}` at QoS 1. Published one at a time so that every
 * subscriber (and every persistent session's offline queue) sees a queue in cursor order. The
 * broker's durable persistence keeps what an agency with `clean: false` missed, across restarts.
 */
import type { Logger } from '../../gateway/log.js';
import type { QueueMessage } from '../queues.js';

export interface MqttPublisher { publish(topic: string, payload: Buffer, qos: 0 | 1): Promise<void> }

export const alertTopic = (queue: string) => `alerts/${queue}`;

export class MqttDelivery {
  private readonly backlog: Array<{ topic: string; payload: Buffer }> = [];
  private busy = false;
  private closed = false;

  constructor(private readonly broker: MqttPublisher, private readonly log: Logger, private readonly maxBacklog = 100_000) {}

  readonly onMessage = (message: QueueMessage, json: string): void => {
    if (this.closed) return;
    if (this.backlog.length >= this.maxBacklog) {
      // the queue log keeps it: HTTP pull and SSE can still fetch it by cursor
      this.log.warn({ queue: message.queue, cursor: message.cursor }, 'MQTT alert backlog full; message left to HTTP pull');
      return;
    }
    this.backlog.push({ topic: alertTopic(message.queue), payload: Buffer.from(json) });
    if (!this.busy) void this.pump();
  };

  private async pump(): Promise<void> {
    this.busy = true;
    while (this.backlog.length > 0 && !this.closed) {
      const next = this.backlog.shift()!;
      try {
        await this.broker.publish(next.topic, next.payload, 1);
      } catch (err) {
        this.log.warn({ err, topic: next.topic }, 'publishing an alert message failed');
      }
    }
    this.busy = false;
  }

  close(): void { this.closed = true; this.backlog.length = 0; }
}
