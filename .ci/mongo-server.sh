#!/usr/bin/env bash
# A MongoDB-wire server for the Mongo backend tests: FerretDB v1 on its SQLite backend, on loopback.
#
#   bash .ci/mongo-server.sh                 foreground (make mongo-server): prints the URI, Ctrl-C stops
#   bash .ci/mongo-server.sh --background    prints ONLY the URI on stdout, leaves the server running
#                                            until the calling process exits, then exits 0
#   options: --dir DIR   keep data, log and pid file in DIR (default: a new temporary directory)
#            --port N    listen on 127.0.0.1:N (default: a free port)
#
# The binary is built once with the Go toolchain from the FerretDB module and cached outside the
# repository (${XDG_CACHE_HOME:-~/.cache}/nifty-shop/). All chatter goes to stderr; any failure
# (no Go, build or start failed) exits non-zero with one "mongo-server:" line saying why.
set -euo pipefail

readonly FERRETDB_VERSION=v1.24.2
readonly FERRETDB_MODULE=github.com/FerretDB/FerretDB
readonly DOWNLOAD_TIMEOUT_S=300 COMPILE_TIMEOUT_S=600 START_TIMEOUT_S=30
readonly CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/nifty-shop/ferretdb-$FERRETDB_VERSION"
readonly BINARY="$CACHE_DIR/ferretdb"
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO

say() { echo "mongo-server: $*" >&2; }
die() { say "$*"; exit 1; }

# The venv's python (it has pymongo) when the repo has one, else the system python3.
python_bin() {
  if [[ -x "$REPO/.venv/bin/python" ]]; then echo "$REPO/.venv/bin/python"; else echo python3; fi
}

# `go install …/cmd/ferretdb@v1.24.x` builds a binary that panics at start (FerretDB issue #2982:
# build/version/version.txt is generated, so it is missing from the module zip), so build the
# same module source with that one file written in.
build_ferretdb() {
  command -v go >/dev/null 2>&1 || die "no Go toolchain (go) on PATH: cannot build FerretDB"
  local src work started=$SECONDS
  say "building FerretDB $FERRETDB_VERSION with $(go env GOVERSION) (first run only; cached in $CACHE_DIR)"
  src=$(cd / && timeout "$DOWNLOAD_TIMEOUT_S" go mod download -json "$FERRETDB_MODULE@$FERRETDB_VERSION" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || true
  [[ -n "$src" && -d "$src" ]] || die "go mod download $FERRETDB_MODULE@$FERRETDB_VERSION failed"
  work=$(mktemp -d "${TMPDIR:-/tmp}/nifty-shop-ferretdb-build.XXXXXX")
  cp -R "$src/." "$work/" && chmod -R u+w "$work"
  echo "$FERRETDB_VERSION" >"$work/build/version/version.txt"
  mkdir -p "$CACHE_DIR"
  if ! (cd "$work" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false timeout "$COMPILE_TIMEOUT_S" \
        go build -trimpath -o "$BINARY.partial" ./cmd/ferretdb) >&2; then
    rm -rf "$work" "$BINARY.partial"
    die "go build of FerretDB $FERRETDB_VERSION failed or took over ${COMPILE_TIMEOUT_S}s"
  fi
  rm -rf "$work"
  mv -f "$BINARY.partial" "$BINARY"
  say "built $BINARY in $((SECONDS - started))s"
}

free_port() {
  "$(python_bin)" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# True once the server answers: a real `ping` command through pymongo when available, else TCP.
answers() {
  local port=$1 py
  py=$(python_bin)
  if "$py" -c 'import pymongo' >/dev/null 2>&1; then
    "$py" - "$port" >/dev/null 2>&1 <<'EOF'
import sys, pymongo
client = pymongo.MongoClient(f"mongodb://127.0.0.1:{sys.argv[1]}/", serverSelectionTimeoutMS=500)
client.admin.command("ping")
EOF
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
  fi
}

# Start the server detached, logging to DIR/ferretdb.log; sets $server_pid.
start_server() {
  local dir=$1 port=$2
  mkdir -p "$dir/data"
  setsid "$BINARY" --handler=sqlite --sqlite-url="file:$dir/data/" --listen-addr="127.0.0.1:$port" \
    --state-dir="$dir" --debug-addr=- --telemetry=disable --log-level=WARN \
    >>"$dir/ferretdb.log" 2>&1 </dev/null &
  server_pid=$!
  echo "$server_pid" >"$dir/ferretdb.pid"
}

# Wait until the server answers on PORT; false when it exits or START_TIMEOUT_S passes.
wait_until_up() {
  local port=$1 deadline=$((SECONDS + START_TIMEOUT_S))
  while ((SECONDS < deadline)); do
    kill -0 "$server_pid" 2>/dev/null || return 1
    answers "$port" && return 0
    sleep 0.2
  done
  return 1
}

# The process the server should outlive no longer than: our caller, or the shell above it when
# the caller is only a forked subshell of it (e.g. `uri=$(bash …mongo-server.sh … 2>/dev/null)`).
owner_pid() {
  local pid=$PPID parent
  while parent=$(ps -o ppid= -p "$pid" 2>/dev/null) && parent=${parent//[[:space:]]/} \
        && ((parent > 1)) && [[ "$(ps -o args= -p "$pid")" == "$(ps -o args= -p "$parent")" ]]; do
    pid=$parent
  done
  echo "$pid"
}

# Stop the server once OWNER exits (the shell that asked for it), and drop a temporary DIR.
watch_owner() {
  local owner=$1 dir=$2 remove_dir=$3
  # shellcheck disable=SC2016  # the inner script expands its own arguments
  setsid bash -c '
    while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 2; done
    kill "$2" 2>/dev/null
    for _ in {1..50}; do kill -0 "$2" 2>/dev/null || break; sleep 0.2; done
    if [[ "$4" == yes ]]; then rm -rf "$3"; fi
  ' _ "$owner" "$server_pid" "$dir" "$remove_dir" >/dev/null 2>&1 </dev/null &
}

main() {
  local background=no dir="" port="" remove_dir=no attempt tool
  while (($#)); do
    case $1 in
      --background) background=yes ;;
      --dir) dir=${2:?--dir needs a directory}; shift ;;
      --port) port=${2:?--port needs a number}; shift ;;
      *) die "unknown argument $1 (use --background, --dir DIR, --port N)" ;;
    esac
    shift
  done
  for tool in timeout setsid ps; do
    command -v "$tool" >/dev/null 2>&1 || die "needs $tool (Linux: coreutils, util-linux, procps)"
  done
  [[ -x "$BINARY" ]] || build_ferretdb
  if [[ -z "$dir" ]]; then
    dir=$(mktemp -d "${TMPDIR:-/tmp}/nifty-shop-ferretdb.XXXXXX") && remove_dir=yes
  fi
  # A free port can be taken between picking and binding it: try a few.
  for attempt in 1 2 3; do
    local try_port=${port:-$(free_port)}
    start_server "$dir" "$try_port"
    if wait_until_up "$try_port"; then port=$try_port; break; fi
    kill "$server_pid" 2>/dev/null || true
    say "FerretDB did not start on 127.0.0.1:$try_port (attempt $attempt); last log lines:"
    tail -n 5 "$dir/ferretdb.log" >&2 || true
    [[ -z "$port" ]] || break
  done
  if [[ -z "$port" ]] || ! kill -0 "$server_pid" 2>/dev/null; then
    die "could not start FerretDB (log: $dir/ferretdb.log)"
  fi
  say "FerretDB $FERRETDB_VERSION (SQLite backend) pid $server_pid, data and log in $dir"
  echo "mongodb://127.0.0.1:$port/"
  if [[ $background == yes ]]; then
    watch_owner "$(owner_pid)" "$dir" "$remove_dir"
    return 0
  fi
  trap 'kill "$server_pid" 2>/dev/null; wait "$server_pid"; [[ $remove_dir == no ]] || rm -rf "$dir"' EXIT
  trap 'exit 0' INT TERM
  wait "$server_pid"
}

main "$@"
