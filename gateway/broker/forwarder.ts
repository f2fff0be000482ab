/**
 * Relays device messages to MQTT subscribers without making the device wait for them.
 *
 * Aedes completes a client's publish only when every subscriber's socket has taken the message, and
 * reads the client's next packets only after that. One subscriber that stops reading (a frozen
 * dashboard, a phone on a bad link) would therefore stall the ingest of every device it watches
 * until `drainTimeout` cuts it off. So the device's own packet is acknowledged and routed nowhere,
 * and a copy is published here, fire-and-forget, with a bound on copies in flight: past it the live
 * copy is skipped and counted. Nothing stored is lost by that; only a live view misses a message.
 */
import type { Aedes, PublishPacket } from 'aedes';

export class LiveForwarder {
  private inFlight = 0;
  private readonly done = () => { this.inFlight--; };

  constructor(private readonly aedes: Aedes, private readonly maxInFlight: number, private readonly onSkipped: () => void) {}

  forward(topic: string, payload: Buffer, qos: 0 | 1, retain = false): void {
    if (this.inFlight >= this.maxInFlight) {
      this.onSkipped();
      return;
    }
    this.inFlight++;
    const packet = { cmd: 'publish', topic, payload, qos, retain, dup: false } as PublishPacket;
    this.aedes.publish(packet, this.done);
  }

  get pending(): number { return this.inFlight; }
}
