#!/usr/bin/env bash
# Two local memcached zones for liveorigin's distributed tests and drills (EVCache style:
# every write goes to every zone, reads go to the local zone first).
#
#   scripts/memcached/zones.sh start            install memcached (Debian apt) if missing, start the zones
#   scripts/memcached/zones.sh stop             stop every server (by PID)
#   scripts/memcached/zones.sh status           one line per server
#   scripts/memcached/zones.sh env              print LIVEORIGIN_TEST_MEMCACHED_ZONES for the tests
#   scripts/memcached/zones.sh kill-zone NAME   kill -9 every server of one zone (fault drills)
#   scripts/memcached/zones.sh start-zone NAME  start the servers of one zone again
#
# Zones are named a and b; zone a's servers listen on 127.0.0.1:$MEMCACHED_BASE_PORT+i, zone b's
# on 127.0.0.1:$MEMCACHED_BASE_PORT+10+i (i = 0..$MEMCACHED_SERVERS_PER_ZONE-1). PID files live
# under $LIVEORIGIN_MEMCACHED_DIR (default <repo>/.run/memcached).
#
# Environment: MEMCACHED_BASE_PORT (21211), MEMCACHED_SERVERS_PER_ZONE (2), MEMCACHED_MB (256),
# MEMCACHED_ITEM_MAX (1m: memcached's default item size limit).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
run_dir="${LIVEORIGIN_MEMCACHED_DIR:-$repo/.run/memcached}"
base_port="${MEMCACHED_BASE_PORT:-21211}"
per_zone="${MEMCACHED_SERVERS_PER_ZONE:-2}"
mem_mb="${MEMCACHED_MB:-256}"
item_max="${MEMCACHED_ITEM_MAX:-1m}"
zones=(a b)

log() { echo "[memcached] $*" >&2; }
die() { echo "[memcached] error: $*" >&2; exit 1; }

zone_offset() { case "$1" in a) echo 0 ;; b) echo 10 ;; *) die "unknown zone $1 (a | b)" ;; esac; }
server_port() { echo $(( base_port + $(zone_offset "$1") + $2 )); }
pid_file() { echo "$run_dir/$1-$2.pid"; }

install() {
  command -v memcached >/dev/null && return 0
  log "installing memcached from Debian"
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq memcached >&2 ||
    die "could not install memcached with apt-get"
  # The Debian package starts a system memcached on 11211; these zones do not use it.
}

alive() {
  local f pid
  f="$(pid_file "$1" "$2")"
  [[ -s "$f" ]] || return 1
  pid="$(cat "$f")"
  kill -0 "$pid" 2>/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_zone() {
  local z=$1 i port user=()
  mkdir -p "$run_dir"
  [[ $(id -u) -eq 0 ]] && user=(-u nobody)
  for (( i = 0; i < per_zone; i++ )); do
    if alive "$z" "$i"; then continue; fi
    port="$(server_port "$z" "$i")"
    if port_open "$port"; then die "port 127.0.0.1:$port is already taken by another process"; fi
    # -U 0: no UDP. -t 1: one worker thread is plenty on a shared 2-core machine.
    nohup memcached -l 127.0.0.1 -p "$port" -U 0 -m "$mem_mb" -I "$item_max" -c 1024 -t 1 "${user[@]}" \
      >"$run_dir/$z-$i.log" 2>&1 </dev/null &
    echo $! >"$(pid_file "$z" "$i")"
  done
  for (( i = 0; i < per_zone; i++ )); do
    port="$(server_port "$z" "$i")"
    local tries=0
    until port_open "$port"; do
      alive "$z" "$i" || { cat "$run_dir/$z-$i.log" >&2; die "memcached $z-$i exited during start-up"; }
      (( ++tries > 100 )) && die "memcached $z-$i did not listen on 127.0.0.1:$port within 10 s"
      sleep 0.1
    done
  done
  log "zone $z up: $(servers_of "$z")"
}

stop_zone() {
  local z=$1 sig=${2:-TERM} i f pid
  for (( i = 0; i < per_zone; i++ )); do
    f="$(pid_file "$z" "$i")"
    [[ -s "$f" ]] || continue
    pid="$(cat "$f")"
    if kill -0 "$pid" 2>/dev/null; then
      kill "-$sig" "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    fi
    rm -f "$f"
  done
  log "zone $z stopped ($sig)"
}

servers_of() {
  local z=$1 i out=()
  for (( i = 0; i < per_zone; i++ )); do out+=("127.0.0.1:$(server_port "$z" "$i")"); done
  local IFS=,
  echo "${out[*]}"
}

# Format read by test/distributed/env.ts: zone=server,server;zone=server,server
print_env() {
  local z parts=()
  for z in "${zones[@]}"; do parts+=("$z=$(servers_of "$z")"); done
  local IFS=';'
  echo "LIVEORIGIN_TEST_MEMCACHED_ZONES=${parts[*]}"
}

status() {
  local z i rc=0
  for z in "${zones[@]}"; do
    for (( i = 0; i < per_zone; i++ )); do
      if alive "$z" "$i"; then echo "zone $z server $i 127.0.0.1:$(server_port "$z" "$i") pid $(cat "$(pid_file "$z" "$i")") up"
      else echo "zone $z server $i 127.0.0.1:$(server_port "$z" "$i") down"; rc=1; fi
    done
  done
  return $rc
}

case "${1:-}" in
  start) install; for z in "${zones[@]}"; do start_zone "$z"; done ;;
  stop) for z in "${zones[@]}"; do stop_zone "$z"; done ;;
  status) status ;;
  env) print_env ;;
  kill-zone) stop_zone "${2:?zone name}" KILL ;;
  start-zone) install; start_zone "${2:?zone name}" ;;
  *) echo "usage: $0 start|stop|status|env|kill-zone NAME|start-zone NAME" >&2; exit 2 ;;
esac
