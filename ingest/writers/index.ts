/** Picks the time-series backend from the settings: InfluxDB when INFLUX_URL is set, else embedded. */
import type { InfluxSettings, TimeseriesSettings } from '../config.js';

/** What the writers need of the settings: where state lives, and the influx and timeseries sections. */
export interface WriterSettings { dataDir: string; influx: InfluxSettings; timeseries: TimeseriesSettings }
import type { Logger } from '../../core/log.js';
import type { Metrics } from '../../core/metrics.js';
import { EmbeddedWriter } from './embedded.js';
import type { TimeSeriesWriter } from './writer.js';

export type { TimeSeriesWriter } from './writer.js';

export async function createWriter(config: WriterSettings, log: Logger, metrics: Metrics): Promise<TimeSeriesWriter> {
  if (!config.influx.url) {
    return new EmbeddedWriter({
      dataDir: config.dataDir,
      retentionDays: config.timeseries.retentionDays,
      onWritten: (n, s) => {
        metrics.pointsWritten.labels('embedded').inc(n);
        metrics.writeLatency.labels('embedded').observe(s);
      },
    });
  }
  const { InfluxWriter } = await import('./influx/index.js');
  return new InfluxWriter({ config, log, metrics });
}
