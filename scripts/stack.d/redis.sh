# Redis from Debian's packages (the package's own service is never started: we run our own).

redis_install() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return 0
  apt_install redis-server redis-tools
}

redis_start() {
  mkdir -p "$DATA_DIR/redis"
  launch redis "$(command -v redis-server)" --bind 127.0.0.1 --port "$REDIS_PORT" \
    --dir "$DATA_DIR/redis" --appendonly yes --appendfsync everysec --save "" \
    --protected-mode yes --daemonize no --maxmemory 512mb --maxmemory-policy noeviction
}

redis_healthy() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

redis_endpoint() { echo "redis://127.0.0.1:$REDIS_PORT"; }
