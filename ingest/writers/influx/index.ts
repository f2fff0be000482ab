/**
 * The InfluxDB time-series writer, for 1.x (through `influx`) and 2.x / 1.8+ (through
 * `@influxdata/influxdb-client`). Only a small sink differs per version; everything else is shared:
 *
 *   append(points) ──► batches.ts: encode ──► Spool (on disk, durable when append returns)
 *                  ──► forwarder.ts: batch, send, retry ──► v1-sink.ts / v2-sink.ts ──► InfluxDB
 *
 * writer.ts wires them; sink.ts is the sinks' contract and coded errors; query.ts builds queries.
 * Loaded lazily by ../index.ts, so a gateway on the embedded store never loads the InfluxDB clients.
 */
export { InfluxWriter, createSink, redactUrl, type InfluxWriterConfig, type InfluxWriterOptions } from './writer.js';
export { BISECT_BUDGET } from './forwarder.js';
export {
  TS_ERRORS, TimeSeriesError, classifyHttpFailure, parsePartialWrite,
  type InfluxBackend, type SinkWriteResult, type TimeSeriesSink, type TsErrorCode,
} from './sink.js';
export { buildFlux, buildInfluxQL, validateQuery } from './query.js';
export { Influx1Sink, type Influx1SinkOptions } from './v1-sink.js';
export { Influx2Sink, type Influx2SinkOptions } from './v2-sink.js';
