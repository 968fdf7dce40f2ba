# PostgreSQL from Debian's packages, a cluster of the stack's own under data/postgres.

POSTGRES_BIN=/usr/lib/postgresql/$POSTGRES_MAJOR/bin
POSTGRES_DATA=$DATA_DIR/postgres

postgres_install() {
  [ -x "$POSTGRES_BIN/postgres" ] || apt_install "postgresql-$POSTGRES_MAJOR"
  command -v psql >/dev/null || apt_install "postgresql-client-$POSTGRES_MAJOR"
  ensure_service_user
}

postgres_start() {
  mkdir -p "$POSTGRES_DATA" "$RUN_DIR/postgres-socket"
  grant_service_user "$POSTGRES_DATA"
  grant_service_user "$RUN_DIR/postgres-socket"
  if [ ! -f "$POSTGRES_DATA/PG_VERSION" ]; then
    local pwfile=$RUN_DIR/postgres-pw
    echo "$POSTGRES_PASSWORD" >"$pwfile"
    chown "$SERVICE_USER" "$pwfile"
    setpriv --reuid="$SERVICE_USER" --regid="$SERVICE_USER" --init-groups \
      "$POSTGRES_BIN/initdb" -D "$POSTGRES_DATA" -U "$POSTGRES_USER" --pwfile="$pwfile" \
      --auth-host=scram-sha-256 --auth-local=trust --encoding=UTF8 --locale=C.UTF-8 \
      >"$LOG_DIR/postgres-initdb.log" 2>&1 || fail "postgres: initdb (see $LOG_DIR/postgres-initdb.log)"
    rm -f "$pwfile"
  fi
  launch postgres --as-service-user "$POSTGRES_BIN/postgres" -D "$POSTGRES_DATA" \
    -c listen_addresses=127.0.0.1 -c port="$POSTGRES_PORT" \
    -c unix_socket_directories="$RUN_DIR/postgres-socket" \
    -c max_connections=200 -c fsync=on
}

postgres_healthy() {
  "$POSTGRES_BIN/pg_isready" -q -h 127.0.0.1 -p "$POSTGRES_PORT" -t 2 &&
    postgres_sql postgres "SELECT 1" >/dev/null
}

postgres_sql() {
  PGPASSWORD=$POSTGRES_PASSWORD psql -X -q -t -A -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$POSTGRES_PORT" -U "$POSTGRES_USER" -d "$1" -c "$2"
}

# postgres_create_database NAME — idempotent; waits for the server first.
postgres_create_database() {
  local name=$1
  wait_healthy postgres || fail "postgres is not healthy, so database '$name' cannot be created"
  if [ -z "$(postgres_sql postgres "SELECT 1 FROM pg_database WHERE datname = '$name'")" ]; then
    postgres_sql postgres "CREATE DATABASE \"$name\"" || fail "postgres: CREATE DATABASE $name"
  fi
}

postgres_ready_hook() { postgres_create_database "$POSTGRES_DB"; }

postgres_endpoint() {
  echo "postgres://$POSTGRES_USER:$POSTGRES_PASSWORD@127.0.0.1:$POSTGRES_PORT/$POSTGRES_DB"
}
