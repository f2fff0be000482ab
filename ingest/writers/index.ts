/** Picks the time-series backend from the settings: InfluxDB when INFLUX_URL is set, else embedded. */
import type { Config } from '../../gateway/config.js';
import type { Logger } from '../../gateway/log.js';
import type { Metrics } from '../../gateway/metrics.js';
import { EmbeddedWriter } from './embedded.js';
import type { TimeSeriesWriter } from './writer.js';

export type { TimeSeriesWriter } from './writer.js';

export async function createWriter(config: Config, log: Logger, metrics: Metrics): Promise<TimeSeriesWriter> {
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
  const { InfluxWriter } = await import('./influx.js');
  return new InfluxWriter({ config, log, metrics });
}
