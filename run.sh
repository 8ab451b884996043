#!/usr/bin/env bash
# Build, run, test, benchmark and load-test Ingest on this machine. See ./run.sh help.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

export DOTNET_CLI_TELEMETRY_OPTOUT=${DOTNET_CLI_TELEMETRY_OPTOUT:-1}
export DOTNET_NOLOGO=1
# The totals line is parsed from English summaries as a fallback.
export DOTNET_CLI_UI_LANGUAGE=en

SLN=Ingest.sln
CONFIGURATION=Release
DAEMON_DLL=src/Ingest/bin/$CONFIGURATION/net10.0/Ingest.dll

usage() {
  cat <<'USAGE'
Usage: ./run.sh [command] [args]

  (none) | run    Build (Release), start redis-server and influxd with data under ./.data/ (loopback only),
                  start the Ingest daemon on http://127.0.0.1:8186 (write-ahead log in ./.data/wal, dead letters
                  in ./.data/dead-letter) and wait until /health answers.
                  Ctrl-C stops everything this script started.
                  Env: INGEST_PORT (8186), INFLUX_PORT (8086), REDIS_PORT (6379); busy influx/redis ports
                  are replaced by free ones.
  test [args]     Install missing Debian packages (redis-server influxdb influxdb-client prometheus (promtool and the server) nats-server
                  docker-compose systemd python3-prometheus-client python3-influxdb postgresql chromium; as root) and the status
                  page's npm packages (npm ci in clients/status-page), build once, run every test
                  project of the solution, validate docker-compose.yml and deploy/systemd/ingest.service, and
                  print "N passed, N failed[, N skipped]" as the last line.
                  Extra args go to every `dotnet test`, e.g. ./run.sh test --filter "FullyQualifiedName~Outage".
                  Test results: .run/test-results/ (one .trx and one .log per project).
  bench [filter]  BenchmarkDotNet in Release: --filter '<filter>' (default '*'); further args pass through.
  load [args]     The load tool (ingest-load); args pass through, e.g. ./run.sh load --help.
  help            This text.
USAGE
}

build() {
  have dotnet || die "dotnet (SDK 10) is not on PATH"
  local extra=()
  # In CI no compiler/MSBuild server may outlive the job.
  [[ -n ${CI:-} ]] && extra+=(--disable-build-servers)
  log "building $SLN ($CONFIGURATION)"
  dotnet build "$SLN" -c "$CONFIGURATION" -nologo "${extra[@]}"
}

# ---------------------------------------------------------------------------------------------- run

STARTED=()   # "pid:name", stopped in reverse order

stop_started() {
  local i entry
  for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
    entry=${STARTED[i]}
    stop_pid "${entry%%:*}" "${entry#*:}" 20
  done
  STARTED=()
}

on_exit_run() {
  local rc=$?
  trap - EXIT INT TERM
  if ((${#STARTED[@]})); then
    local names=() i
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do names+=("${STARTED[i]#*:}"); done
    log "stopping ${names[*]}"
    stop_started
  fi
  exit "$rc"
}

# pick_free_port VAR PREFERRED — PREFERRED if free, else a random free port below the ephemeral range
# (a stopped server's port must not be taken meanwhile as some client's source port), never one
# already chosen by this script.
CHOSEN_PORTS=" "
pick_free_port() {
  local -n out=$1
  local p=$2 i
  if [[ $CHOSEN_PORTS == *" $p "* ]] || port_busy "$p"; then
    for ((i = 0; i < 200; i++)); do
      p=$((20000 + RANDOM % 12000))
      [[ $CHOSEN_PORTS == *" $p "* ]] || port_busy "$p" || break
    done
  fi
  CHOSEN_PORTS+="$p "
  # shellcheck disable=SC2034 # nameref to the caller's variable
  out=$p
}

is_status() { [[ $(http_status "$1" "$2") == "$3" ]]; }

fail_start() { # NAME LOGFILE
  warn "last lines of $2:"
  tail -n 30 "$2" >&2 || true
  die "$1 did not start"
}

cmd_run() {
  ensure_packages redis-server:redis-server influxd:influxdb influx:influxdb-client
  build
  [[ -f $DAEMON_DLL ]] || die "$DAEMON_DLL is missing after the build"

  local data=$ROOT/.data
  mkdir -p "$data/influxdb" "$data/redis" "$data/logs"

  local ingest_port=${INGEST_PORT:-8186}
  port_busy "$ingest_port" && die "127.0.0.1:$ingest_port is in use; stop that process or run INGEST_PORT=<port> ./run.sh"
  CHOSEN_PORTS+="$ingest_port "
  local influx_port rpc_port ifql_port redis_port
  pick_free_port influx_port "${INFLUX_PORT:-8086}"
  pick_free_port rpc_port 8088
  pick_free_port ifql_port 8082
  pick_free_port redis_port "${REDIS_PORT:-6379}"

  trap on_exit_run EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  bash scripts/influxd-conf.sh "$data/influxdb" "$influx_port" "$rpc_port" "$ifql_port" >"$data/influxdb.conf"
  # influxd lets INFLUXDB_* variables override its config file; none may redirect this instance.
  local unset_env=() v
  for v in $(compgen -e); do [[ $v == INFLUXDB_* ]] && unset_env+=(-u "$v"); done
  log "starting influxd on 127.0.0.1:$influx_port (log: .data/logs/influxd.log)"
  env "${unset_env[@]}" influxd run -config "$data/influxdb.conf" >>"$data/logs/influxd.log" 2>&1 </dev/null &
  local influx_pid=$!
  STARTED+=("$influx_pid:influxd")

  log "starting redis-server on 127.0.0.1:$redis_port (log: .data/logs/redis.log)"
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$data/redis" --save "" --appendonly yes \
    --daemonize no --logfile "$data/logs/redis.log" </dev/null >/dev/null 2>&1 &
  local redis_pid=$!
  STARTED+=("$redis_pid:redis-server")

  wait_until 30 "$influx_pid" influxd is_status "$influx_port" /ping 204 || fail_start influxd "$data/logs/influxd.log"
  wait_until 30 "$redis_pid" redis-server redis_ping "$redis_port" || fail_start redis-server "$data/logs/redis.log"
  # The banner's example writes to db=metrics; influxd 1.x rejects writes to a database that does not exist.
  influx -host 127.0.0.1 -port "$influx_port" -execute 'CREATE DATABASE metrics' >/dev/null \
    || warn "could not create database metrics in influxd"

  log "starting the Ingest daemon on http://127.0.0.1:$ingest_port"
  # The output folder is the content root, so ingest.json next to Ingest.dll is found as in the container image.
  # Its relative Wal:Directory and DeadLetter:Directory would then land in the build output: they go under .data/
  # with the servers' data instead (unless the environment names them), as docs/running.md says.
  (
    cd "$(dirname "$DAEMON_DLL")"
    exec env INGEST_Influx__Url="http://127.0.0.1:$influx_port" \
      INGEST_Redis__Configuration="127.0.0.1:$redis_port" \
      INGEST_Wal__Directory="${INGEST_Wal__Directory:-$data/wal}" \
      INGEST_DeadLetter__Directory="${INGEST_DeadLetter__Directory:-$data/dead-letter}" \
      dotnet Ingest.dll --urls "http://127.0.0.1:$ingest_port"
  ) </dev/null &
  local daemon_pid=$!
  STARTED+=("$daemon_pid:Ingest")

  if ! wait_until 90 "$daemon_pid" "Ingest daemon" is_status "$ingest_port" /health 200; then
    die "the daemon did not report healthy on http://127.0.0.1:$ingest_port/health (its output is above)"
  fi

  local base="http://127.0.0.1:$ingest_port"
  cat <<BANNER

  Ingest is running (pid $daemon_pid).
    write:    curl -XPOST '$base/write?db=metrics' --data-binary 'cpu,host=a usage=1'
    metrics:  $base/metrics
    ready:    $base/ready
    health:   $base/health
    influxdb: http://127.0.0.1:$influx_port   (influx -port $influx_port -database metrics)
    redis:    127.0.0.1:$redis_port           (redis-cli -p $redis_port)
    data:     .data/   logs: .data/logs/
  Press Ctrl-C to stop the daemon, influxd and redis-server.

BANNER

  local rc=0
  wait "$daemon_pid" || rc=$?
  # Only reached when the daemon ended by itself; Ctrl-C goes through the traps.
  warn "the daemon exited with code $rc"
  exit "$rc"
}

# --------------------------------------------------------------------------------------------- test

TEST_JOBS=()   # pids of running `dotnet test` jobs; each leads its own process group

# stop_group PGID — ends a `dotnet test` job with everything it spawned: vstest.console, testhost and the
# influxd/redis-server the fixtures started (they inherit the group). Nothing outside the group is touched.
stop_group() {
  local pgid=$1 i
  kill -TERM -- "-$pgid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 -- "-$pgid" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -KILL -- "-$pgid" 2>/dev/null || true
}

on_exit_test() {
  local rc=$?
  trap - EXIT INT TERM
  local pid
  for pid in "${TEST_JOBS[@]}"; do stop_group "$pid"; done
  exit "$rc"
}

# npm_ci_when_changed DIR WHO — `npm ci` in DIR from its lockfile, only when the lockfile changed since the last
# install there (npm ci starts from scratch, so running it every time would cost a whole install); WHO is what
# fails without it.
npm_ci_when_changed() {
  local dir=$1 who=$2 stamp lock out
  stamp=$dir/node_modules/.installed-lock.sha256
  lock=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  [[ -f $stamp && $(cat "$stamp") == "$lock" ]] && return 0
  if out=$(cd "$dir" && npm ci --no-audit --no-fund --prefer-offline 2>&1); then
    echo "$lock" >"$stamp"
  else
    warn "npm ci in $dir failed; $who will fail"
    echo "$out" | tail -n 20 >&2
  fi
}

# install_without_starting PKG... — install_packages, with no service started by the packages' scripts.
install_without_starting() {
  local policy=/usr/sbin/policy-rc.d
  if [[ -e $policy || $(id -u) -ne 0 ]]; then
    install_packages "$@"
    return
  fi
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  local rc=0
  (install_packages "$@") || rc=$?
  rm -f "$policy"
  ((rc == 0)) || die "installing $* failed"
}

# summary_numbers LOG — "P F S" from the console summary ("Passed!  - Failed: 0, Passed: 3, Skipped: 0, ...").
summary_numbers() {
  local p=0 f=0 s=0 line
  while IFS= read -r line; do
    [[ $line =~ Failed:\ *([0-9]+),\ *Passed:\ *([0-9]+),\ *Skipped:\ *([0-9]+) ]] || continue
    f=$((f + BASH_REMATCH[1])); p=$((p + BASH_REMATCH[2])); s=$((s + BASH_REMATCH[3]))
  done < <(grep -E '^\s*(Passed|Failed)!' "$1" || true)
  echo "$p $f $s"
}

cmd_test() {
  ensure_packages redis-server:redis-server influxd:influxdb influx:influxdb-client promtool:prometheus prometheus:prometheus \
    docker-compose:docker-compose node:nodejs npm:npm systemd-analyze:systemd nats-server:nats-server chromium:chromium
  # The sql source's checks run a private PostgreSQL cluster (initdb + postgres as the postgres user, on a free
  # port); Debian keeps those binaries off PATH. The package would start its own cluster: it must not, so a
  # policy-rc.d refuses every service start for the length of the install (Debian's own mechanism).
  if ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
    install_without_starting postgresql
  fi
  # The OpenMetrics checks parse /metrics with the Python Prometheus client's strict parser.
  if ! /usr/bin/python3 -c 'import prometheus_client.openmetrics.parser' 2>/dev/null; then
    install_packages python3 python3-prometheus-client
  fi
  # The /query checks drive python-influxdb (InfluxDBClient) through the daemon.
  if ! /usr/bin/python3 -c 'import influxdb' 2>/dev/null; then
    install_packages python3 python3-influxdb
  fi
  # The live feed's end-to-end check runs Node's `ws` client, installed under .run/ (not kept in the repo).
  if [[ ! -d $ROOT/.run/node/node_modules/ws ]]; then
    mkdir -p "$ROOT/.run/node"
    npm install --silent --no-audit --no-fund --prefix "$ROOT/.run/node" ws@8 >/dev/null 2>&1 \
      || echo "warning: npm install ws failed; the Node feed check will fail"
  fi
  export INGEST_TEST_NODE_MODULES=$ROOT/.run/node/node_modules
  # The TypeScript client (clients/js, tested by JsClientTests) and the status page (clients/status-page: its bundle
  # is rebuilt by esbuild and driven in Chromium by puppeteer-core) have their own packages; then the client is built.
  npm_ci_when_changed "$ROOT/clients/js" "JsClientTests"
  npm_ci_when_changed "$ROOT/clients/status-page" "the status page checks"
  local js_out
  js_out=$(cd "$ROOT/clients/js" && npm run --silent build 2>&1) \
    || { warn "building clients/js failed; JsClientTests will fail"; echo "$js_out" | tail -n 20 >&2; }
  export INGEST_STATUS_PAGE_NODE_MODULES=$ROOT/clients/status-page/node_modules

  trap on_exit_test EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  if ! build; then
    echo "build failed: no tests ran"
    echo "0 passed, 0 failed"
    exit 1
  fi

  local projects=() p
  while IFS= read -r p; do
    p=${p//\\//}
    [[ -f $p ]] && grep -qE '<IsTestProject>[[:space:]]*true|Microsoft\.NET\.Test\.Sdk' "$p" && projects+=("$p")
  done < <(grep -oE '"[^"]+\.csproj"' "$SLN" | tr -d '"')
  ((${#projects[@]})) || die "no test projects found in $SLN"

  local results=$ROOT/.run/test-results
  rm -rf "$results"
  mkdir -p "$results"

  # Unit-test projects run side by side; projects that drive real servers run afterwards on their own,
  # so their timing (outages, throughput) does not compete with the rest for the two cores.
  local unit=() integration=()
  for p in "${projects[@]}"; do
    if [[ $p == *Integration* ]]; then integration+=("$p"); else unit+=("$p"); fi
  done

  local passed=0 failed=0 skipped=0 rc_all=0
  run_batch() {
    local p name jobs=() names=() i rc nums
    for p in "$@"; do
      name=$(basename "$p" .csproj)
      log "testing $name"
      # setsid: its own process group, so stopping it reaches every process it started.
      setsid dotnet test "$p" -c "$CONFIGURATION" --no-build -nologo \
        --logger "trx;LogFileName=$name.trx" --results-directory "$results" \
        --blame-hang-timeout 5m --blame-hang-dump-type none \
        "${TEST_ARGS[@]}" >"$results/$name.log" 2>&1 </dev/null &
      jobs+=($!); names+=("$name")
      TEST_JOBS+=($!)
    done
    for i in "${!jobs[@]}"; do
      rc=0
      wait "${jobs[i]}" || rc=$?
      # A test host that crashed or hung may have left servers behind in the group.
      stop_group "${jobs[i]}"
      name=${names[i]}
      echo "----- ${name} (dotnet test exit code $rc) -----"
      cat "$results/$name.log"
      if [[ -f $results/$name.trx ]]; then
        nums=$(bash scripts/test-totals.sh --numbers "$results/$name.trx")
      else
        warn "$name wrote no TRX file; using its console summary"
        nums=$(summary_numbers "$results/$name.log")
      fi
      read -r np nf ns <<<"$nums"
      passed=$((passed + np)); failed=$((failed + nf)); skipped=$((skipped + ns))
      if ((rc != 0)); then
        rc_all=1
        ((nf == 0)) && warn "$name: dotnet test failed (exit $rc) without a failed test: build, crash or hang; see above"
      fi
    done
    TEST_JOBS=()
  }
  ((${#unit[@]})) && run_batch "${unit[@]}"
  for p in "${integration[@]}"; do run_batch "$p"; done

  if have docker-compose; then
    log "validating docker-compose.yml"
    if docker-compose config -q; then
      echo "docker-compose config: ok"
    else
      echo "docker-compose config: FAILED (counted as a failed test)"
      failed=$((failed + 1)); rc_all=1
    fi
  fi
  if have promtool; then
    log "checking deploy/compose/prometheus.yml"
    if promtool check config deploy/compose/prometheus.yml >/dev/null; then
      echo "promtool check config: ok"
    else
      echo "promtool check config deploy/compose/prometheus.yml: FAILED (counted as a failed test)"
      failed=$((failed + 1)); rc_all=1
    fi
  fi

  if have systemd-analyze; then
    log "verifying deploy/systemd/ingest.service"
    # verify exits 0 on unknown keys and bad values too; any message at all counts as a failure.
    local verify_out verify_rc=0
    verify_out=$(systemd-analyze verify deploy/systemd/ingest.service 2>&1) || verify_rc=$?
    if ((verify_rc == 0)) && [[ -z $verify_out ]]; then
      echo "systemd-analyze verify: ok"
    else
      echo "systemd-analyze verify deploy/systemd/ingest.service: FAILED (counted as a failed test)"
      echo "$verify_out"
      failed=$((failed + 1)); rc_all=1
    fi
  fi

  ((failed > 0)) && rc_all=1
  local line="$passed passed, $failed failed"
  ((skipped > 0)) && line+=", $skipped skipped"
  echo "$line"
  exit "$rc_all"
}

# --------------------------------------------------------------------------------------- bench/load

cmd_bench() {
  local filter=${1:-*}
  (($#)) && shift
  exec dotnet run -c Release --project src/Ingest.Benchmarks -- --filter "$filter" "$@"
}

cmd_load() {
  exec dotnet run -c Release --project src/Ingest.LoadGen -- "$@"
}

TEST_ARGS=()
case "${1:-run}" in
  run) cmd_run ;;
  test) shift; TEST_ARGS=("$@"); cmd_test ;;
  bench) shift; cmd_bench "$@" ;;
  load) shift; cmd_load "$@" ;;
  help | -h | --help) usage ;;
  *) echo "unknown command: $1" >&2; usage >&2; exit 2 ;;
esac
