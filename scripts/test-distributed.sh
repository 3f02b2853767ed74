#!/usr/bin/env bash
# The distributed test suite (`npm run test:distributed`): installs what it needs, starts a
# 3-node Cassandra ring and two memcached zones on loopback, runs test/distributed/*.test.ts
# against them, and always stops everything it started, by PID, on exit.
#
# Extra arguments go to node's test runner, e.g. `npm run test:distributed -- --test-name-pattern=memcached`.
# LIVEORIGIN_KEEP_SERVICES=1 leaves the services running afterwards (stop them with
# scripts/cassandra/ring.sh stop and scripts/memcached/zones.sh stop).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"

t0=$(date +%s)
log() { echo "[test-distributed +$(( $(date +%s) - t0 ))s] $*" >&2; }

cleanup() {
  local rc=$?
  if [[ "${LIVEORIGIN_KEEP_SERVICES:-0}" != 1 ]]; then
    log "stopping services"
    bash scripts/memcached/zones.sh stop || true
    bash scripts/cassandra/ring.sh stop || true
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ -d node_modules ]] || npm ci --no-audit --no-fund

# A ring left over from an earlier run holds data of old test keyspaces: start clean.
bash scripts/cassandra/ring.sh stop
rm -rf "${LIVEORIGIN_RING_DIR:-$repo/.run/cassandra}"/node*

bash scripts/memcached/zones.sh start
log "memcached zones up"
bash scripts/cassandra/ring.sh start
log "Cassandra ring up"

prefix="${CASSANDRA_ADDR_PREFIX:-127.0.0.}"
export LIVEORIGIN_TEST_CASSANDRA="${prefix}1,${prefix}2,${prefix}3"
export LIVEORIGIN_TEST_CASSANDRA_DC="datacenter1"
export "$(bash scripts/memcached/zones.sh env)"

node scripts/run-tests.mjs distributed "$@"
