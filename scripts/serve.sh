#!/usr/bin/env bash
# A local Prefect server with castline's deployments (prefect.yaml) and one process worker.
#
#   scripts/serve.sh start    start the server and the worker (each only if not running), deploy
#   scripts/serve.sh stop     stop the worker, then the server
#   scripts/serve.sh status   what is running
#
# Settings: CASTLINE_PREFECT_PORT (default 4200); CASTLINE_DATABASE_URL, the server's database
# (default SQLite under .castline-serve/prefect), e.g. postgresql+asyncpg://user:pass@127.0.0.1:5432/prefect
# PID files, logs and Prefect's home are in .castline-serve/ (git-ignored).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=$ROOT/.castline-serve
PORT=${CASTLINE_PREFECT_PORT:-4200}
BIN=$ROOT/.venv/bin

export CASTLINE_ROOT=$ROOT     # the deployments' pull step runs each flow run here (prefect.yaml)
export DO_NOT_TRACK=1 PREFECT_SERVER_ANALYTICS_ENABLED=false PREFECT_SERVER_UI_ENABLED=false
export PREFECT_HOME=$STATE/prefect
export PREFECT_API_URL=http://127.0.0.1:$PORT/api
if [ -n "${CASTLINE_DATABASE_URL:-}" ]; then
  export PREFECT_API_DATABASE_CONNECTION_URL=$CASTLINE_DATABASE_URL
fi

pid_of() { cat "$STATE/$1.pid" 2>/dev/null || true; }

# Whether the process in NAME.pid is alive and still a prefect process (not a reused pid).
running() {
  local pid
  pid=$(pid_of "$1")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q prefect
}

healthy() { curl -fsS --max-time 2 "$PREFECT_API_URL/health" >/dev/null 2>&1; }

# Start NAME: the rest of the arguments, in its own session (so that stop reaches its children).
launch() {
  local name=$1
  shift
  setsid nohup "$@" >>"$STATE/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/$name.pid"
}

start() {
  mkdir -p "$PREFECT_HOME"
  if running server; then
    echo "server: already running (pid $(pid_of server))"
  elif healthy; then
    echo "error: something else answers on $PREFECT_API_URL; set CASTLINE_PREFECT_PORT to another port" >&2
    exit 1
  else
    launch server "$BIN/prefect" server start --host 127.0.0.1 --port "$PORT"
    echo "server: started (pid $(pid_of server), log $STATE/server.log)"
  fi
  for _ in $(seq 1 240); do
    healthy && break
    running server || { echo "error: the server stopped; see $STATE/server.log" >&2; tail -n 20 "$STATE/server.log" >&2; exit 1; }
    sleep 0.5
  done
  healthy || { echo "error: the server did not answer within 120 s; see $STATE/server.log" >&2; exit 1; }

  if ! "$BIN/prefect" work-pool inspect castline >/dev/null 2>&1; then
    "$BIN/prefect" work-pool create castline --type process >"$STATE/pool.log" 2>&1 \
      || { cat "$STATE/pool.log" >&2; exit 1; }
    echo "work pool: castline created (type process)"
  fi
  if ! (cd "$ROOT" && "$BIN/prefect" --no-prompt deploy --all) >"$STATE/deploy.log" 2>&1; then
    echo "error: prefect deploy --all failed:" >&2
    tail -n 30 "$STATE/deploy.log" >&2
    exit 1
  fi
  echo "deployed (prefect.yaml):" $(grep -o "Deployment '[^']*'" "$STATE/deploy.log" | cut -d"'" -f2)

  if running worker; then
    echo "worker: already running (pid $(pid_of worker))"
  else
    PREFECT_WORKER_QUERY_SECONDS=2 launch worker "$BIN/prefect" worker start --pool castline --type process
    echo "worker: started (pid $(pid_of worker), log $STATE/worker.log)"
  fi
  echo
  echo "export PREFECT_API_URL=$PREFECT_API_URL"
}

# Stop NAME: SIGTERM to its process group, a second one after 5 s (a worker may need it), SIGKILL after 10 s.
stop_one() {
  local name=$1 pid
  pid=$(pid_of "$name")
  if running "$name"; then
    for signal in TERM TERM KILL; do
      kill -s "$signal" -- "-$pid" 2>/dev/null || kill -s "$signal" "$pid" 2>/dev/null || true
      for _ in $(seq 1 20); do
        running "$name" || break
        sleep 0.25
      done
      running "$name" || break
      echo "$name: still running after SIG$signal"
    done
    echo "$name: stopped (pid $pid)"
  else
    echo "$name: not running"
  fi
  rm -f "$STATE/$name.pid"
}

stop() {
  stop_one worker
  stop_one server
}

status() {
  for name in server worker; do
    if running "$name"; then echo "$name: running (pid $(pid_of "$name"))"; else echo "$name: not running"; fi
  done
  healthy && echo "API: $PREFECT_API_URL (healthy)" || echo "API: $PREFECT_API_URL (not answering)"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
