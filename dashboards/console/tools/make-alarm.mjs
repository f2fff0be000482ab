// Writes the console's alarm sound, `public/alarm.wav`: a two-tone alarm (960 Hz / 770 Hz, the
// alternating pattern people know from sirens and pagers) of 1.5 s, 16-bit mono PCM at 11 025 Hz
// (about 33 kB). The file is committed as an asset; run this again only to change the sound:
//
//   node dashboards/console/tools/make-alarm.mjs
//
// Every tone is shaped with a short fade in and out, so the switch between tones does not click.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RATE = 11_025;
const TONES = [960, 770];
/** Seconds per tone, and how many high-low pairs. */
const TONE_S = 0.25;
const PAIRS = 3;
const FADE_S = 0.012;
/** Of full scale: loud enough across a room, with headroom so no cheap speaker clips. */
const VOLUME = 0.7;

function samples() {
  const perTone = Math.round(RATE * TONE_S);
  const fade = Math.round(RATE * FADE_S);
  const out = new Int16Array(perTone * TONES.length * PAIRS);
  let i = 0;
  for (let p = 0; p < PAIRS; p++) {
    for (const freq of TONES) {
      for (let n = 0; n < perTone; n++) {
        const envelope = Math.min(1, n / fade, (perTone - 1 - n) / fade);
        // a square-ish tone (fundamental plus a third harmonic) carries better than a pure sine on small speakers
        const x = 2 * Math.PI * freq * (n / RATE);
        const v = (Math.sin(x) + Math.sin(3 * x) / 3) * 0.75;
        out[i++] = Math.round(v * envelope * VOLUME * 32767);
      }
    }
  }
  return out;
}

/** A RIFF/WAVE file holding one `fmt ` (PCM) and one `data` chunk, little-endian throughout. */
export function wav(pcm, rate = RATE) {
  const data = Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  const head = Buffer.alloc(44);
  head.write('RIFF', 0, 'ascii');
  head.writeUInt32LE(36 + data.length, 4);
  head.write('WAVE', 8, 'ascii');
  head.write('fmt ', 12, 'ascii');
  head.writeUInt32LE(16, 16); // fmt chunk size
  head.writeUInt16LE(1, 20); // PCM
  head.writeUInt16LE(1, 22); // mono
  head.writeUInt32LE(rate, 24);
  head.writeUInt32LE(rate * 2, 28); // bytes per second
  head.writeUInt16LE(2, 32); // bytes per frame
  head.writeUInt16LE(16, 34); // bits per sample
  head.write('data', 36, 'ascii');
  head.writeUInt32LE(data.length, 40);
  return Buffer.concat([head, data]);
}

const target = join(dirname(fileURLToPath(import.meta.url)), '..', 'public', 'alarm.wav');
const file = wav(samples());
writeFileSync(target, file);
console.log(`${target}: ${file.length} bytes`);
