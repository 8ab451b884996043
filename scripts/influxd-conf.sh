#!/usr/bin/env bash
# Usage: influxd-conf.sh DATA_DIR HTTP_PORT RPC_PORT [IFQL_PORT] > influxdb.conf
# Prints a config for influxd 1.x derived from its own defaults (`influxd config`) with every directory
# under DATA_DIR, every bind-address on 127.0.0.1, usage reporting and the UDP/graphite/collectd/opentsdb
# inputs off — so a local instance neither touches /var/lib/influxdb nor collides with another one.
set -euo pipefail

(($# >= 3)) || { echo "usage: $0 DATA_DIR HTTP_PORT RPC_PORT [IFQL_PORT]" >&2; exit 2; }
dir=$1 http=$2 rpc=$3 ifql=${4:-8082}

# -config /dev/null: start from the built-in defaults, not whatever /etc/influxdb/influxdb.conf says.
defaults=$(influxd config -config /dev/null 2>/dev/null) || { echo "influxd config failed" >&2; exit 1; }
[[ -n $defaults ]] || { echo "influxd config printed nothing" >&2; exit 1; }

# Plain POSIX awk (Debian ships mawk).
printf '%s\n' "$defaults" | awk -v dir="$dir" -v http="$http" -v rpc="$rpc" -v ifql="$ifql" '
  function q(s) { return "\"" s "\"" }
  /^[ \t]*\[/ { section = $0; gsub(/[][ \t]/, "", section); print; next }
  /^[ \t]*#/ || !/=/ { print; next }
  {
    match($0, /^[ \t]*/); indent = substr($0, 1, RLENGTH)
    key = $0; sub(/^[ \t]*/, "", key); sub(/[ \t]*=.*/, "", key)
    value = $0; sub(/^[^=]*=[ \t]*/, "", value)
    new = ""
    if (section == "" && key == "bind-address")               new = q("127.0.0.1:" rpc)
    else if (section == "" && key == "reporting-disabled")     new = "true"
    else if (section == "" && key == "reporting-enabled")      new = "false"
    else if (section == "meta" && key == "dir")                new = q(dir "/meta")
    else if (section == "data" && key == "dir")                new = q(dir "/data")
    else if (section == "data" && key == "wal-dir")            new = q(dir "/wal")
    else if (section == "data" && key == "query-log-enabled")  new = "false"
    else if (section == "http" && key == "bind-address")       new = q("127.0.0.1:" http)
    else if (section == "http" && key == "log-enabled")        new = "false"
    else if (section == "http" && key == "unix-socket-enabled") new = "false"
    else if (section == "http" && key == "bind-socket")        new = q(dir "/influxd.sock")
    else if (section == "ifql" && key == "bind-address")       new = q("127.0.0.1:" ifql)
    else if (section == "ifql" && key == "enabled")            new = "false"
    else if (section == "monitor" && key == "store-enabled")   new = "false"
    else if (section == "logging" && key == "suppress-logo")   new = "true"
    else if (section ~ /^(graphite|collectd|opentsdb|udp)$/ && key == "enabled") new = "false"
    else if (key == "bind-address") {
      # disabled inputs keep their port, but never on all interfaces
      v = value; gsub(/"/, "", v); sub(/.*:/, "", v); new = q("127.0.0.1:" v)
    }
    if (new == "") print; else print indent key " = " new
  }
'
