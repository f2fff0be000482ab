/**
 * A small seeded PRNG (mulberry32), so a fleet started with the same seed behaves the same way:
 * a scenario that found a bug can be replayed. Math.random cannot be seeded.
 */
export class Rng {
  private state: number;

  constructor(seed: number | string) {
    this.state = typeof seed === 'number' ? seed >>> 0 : hashString(seed);
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  range(min: number, max: number): number { return min + (max - min) * this.next(); }
  int(min: number, maxInclusive: number): number { return Math.floor(this.range(min, maxInclusive + 1)); }
  chance(p: number): boolean { return this.next() < p; }
  pick<T>(items: readonly T[]): T { return items[Math.floor(this.next() * items.length)]!; }

  /** Standard normal (Box-Muller): sensor noise is closer to Gaussian than to uniform. */
  gauss(mean = 0, sd = 1): number {
    const u = 1 - this.next();
    const v = this.next();
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Probability that an event with `perHour` mean rate happens within `dtS` seconds (Poisson). */
  happens(perHour: number, dtS: number): boolean {
    return this.next() < 1 - Math.exp(-(perHour / 3600) * dtS);
  }
}

export function hashString(s: string): number {
  let h = 2166136261 >>> 0; // FNV-1a
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h;
}

export const clamp = (x: number, min: number, max: number): number => (x < min ? min : x > max ? max : x);
export const round = (x: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

/** Hour of day in China Standard Time (UTC+8), whatever the machine's zone: demand follows local life. */
export function hourOfDay(epochMs: number): number {
  return (((epochMs / 3600_000 + 8) % 24) + 24) % 24;
}
