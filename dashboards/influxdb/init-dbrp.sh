#!/bin/bash
# Maps an InfluxQL database / retention policy (DBRP) to the bucket the gateway writes to, so that
# Grafana's InfluxQL dashboards (and any InfluxDB 1.x tool) can query InfluxDB 2.x.
#
# Run once by the official influxdb:2 image, from /docker-entrypoint-initdb.d, right after the
# DOCKER_INFLUXDB_INIT_* setup: at that point the entrypoint has exported INFLUX_HOST and
# DOCKER_INFLUXDB_INIT_BUCKET_ID, and the influx CLI's active config holds the admin token.
# The file must be executable: the entrypoint runs it with run-parts, which skips other files.
#
# Settings (environment, all optional):
#   INFLUXQL_DATABASE  database name InfluxQL clients use (default: the bucket name, which is what
#                      the Grafana data source's dbName is set to)
#   INFLUXQL_RP        retention policy name (default: autogen, InfluxDB 1.x's default RP)
set -euo pipefail

bucket="${DOCKER_INFLUXDB_INIT_BUCKET:?DOCKER_INFLUXDB_INIT_BUCKET is not set}"
bucket_id="${DOCKER_INFLUXDB_INIT_BUCKET_ID:?DOCKER_INFLUXDB_INIT_BUCKET_ID is not set (run this from the influxdb:2 entrypoint)}"
org="${DOCKER_INFLUXDB_INIT_ORG:?DOCKER_INFLUXDB_INIT_ORG is not set}"
db="${INFLUXQL_DATABASE:-$bucket}"
rp="${INFLUXQL_RP:-autogen}"

# InfluxDB 2.x also answers InfluxQL for a bucket through a "virtual" mapping named after it; an
# explicit mapping is still created so that it shows up in `influx v1 dbrp list`, is the default RP
# for the database, and keeps working if INFLUXQL_DATABASE differs from the bucket name.
if influx v1 dbrp create --org "$org" --bucket-id "$bucket_id" --db "$db" --rp "$rp" --default; then
  echo "init-dbrp: InfluxQL database \"$db\" (retention policy \"$rp\") -> bucket \"$bucket\""
elif influx v1 dbrp list --org "$org" --db "$db" --hide-headers | grep -q "$bucket_id"; then
  # a restart of a half-finished setup: the mapping is already there
  echo "init-dbrp: mapping for database \"$db\" already exists"
else
  echo "init-dbrp: could not create the DBRP mapping for database \"$db\"" >&2
  exit 1
fi
