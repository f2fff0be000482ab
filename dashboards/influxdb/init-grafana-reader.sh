#!/bin/bash
# Creates the read-only InfluxDB credential Grafana queries with, so the dashboards never hold the
# operator token: a leaked Grafana (or a dashboard editor) can then read the readings bucket and
# nothing else — it can neither write nor delete data, nor touch other buckets, users or tokens.
#
# Run once by the official influxdb:2 image, from /docker-entrypoint-initdb.d, after the
# DOCKER_INFLUXDB_INIT_* setup (the influx CLI's active config holds the operator token then).
# It is an InfluxDB 1.x-compatibility authorization (username + password) because the dashboards
# speak InfluxQL, whose Grafana data source authenticates with a user and password; InfluxDB 2.x
# lets such a credential read only the buckets named with --read-bucket.
#
# Settings (environment):
#   GRAFANA_INFLUX_USER      username Grafana's data source uses (default: grafana)
#   GRAFANA_INFLUX_PASSWORD  its password (required; docker-compose.yml takes it from .env)
set -euo pipefail

bucket_id="${DOCKER_INFLUXDB_INIT_BUCKET_ID:?DOCKER_INFLUXDB_INIT_BUCKET_ID is not set (run this from the influxdb:2 entrypoint)}"
org="${DOCKER_INFLUXDB_INIT_ORG:?DOCKER_INFLUXDB_INIT_ORG is not set}"
user="${GRAFANA_INFLUX_USER:-grafana}"
password="${GRAFANA_INFLUX_PASSWORD:?GRAFANA_INFLUX_PASSWORD is not set}"

if influx v1 auth list --org "$org" --username "$user" --hide-headers 2>/dev/null | grep -q "$user"; then
  # a restart of a half-finished setup: the credential is already there
  echo "init-grafana-reader: read-only user \"$user\" already exists"
else
  # the password is passed on the command line of a process inside the container only, during setup
  influx v1 auth create --org "$org" --username "$user" --password "$password" --read-bucket "$bucket_id" \
    --description "Grafana dashboards: read-only on the readings bucket" >/dev/null
  echo "init-grafana-reader: read-only user \"$user\" for the readings bucket created"
fi
