# Trino, one node (coordinator and worker), with the Hive connector as catalog `archive` over the
# stack's S3 store: an engine independent of the writer that reads the Parquet archive through
# projections/s3-parquet/trino.sql, the Trino twin of the Athena DDL. Table metadata lives in a
# file metastore under data/trino; the data stays where the archive wrote it.
#
# The server tarball from Maven Central (plugins hard-linked to each other), unpacked once; only
# the Hive plugin is loaded, which keeps the start-up short. Trino 476 needs Java >= 24.

TRINO_PORT=${PAYFLOW_TRINO_PORT:-8088}
TRINO_HOME=$CACHE_DIR/trino-server-$TRINO_VERSION
TRINO_DATA=$DATA_DIR/trino
TRINO_MIN_JAVA=24

# Prints a java binary of major version >= 24: PAYFLOW_TRINO_JAVA_HOME, else Temurin 25, else any
# JDK under /usr/lib/jvm; fails naming what to install when there is none.
trino_java() {
  local candidate
  for candidate in ${PAYFLOW_TRINO_JAVA_HOME:+"$PAYFLOW_TRINO_JAVA_HOME/bin/java"} \
    /usr/lib/jvm/temurin-25-jdk-amd64/bin/java /usr/lib/jvm/*/bin/java; do
    [ -x "$candidate" ] || continue
    if [ "$(java_major "$candidate")" -ge "$TRINO_MIN_JAVA" ] 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  fail "trino $TRINO_VERSION needs a JDK >= $TRINO_MIN_JAVA and none is under /usr/lib/jvm; install one (e.g. Temurin 25) or set PAYFLOW_TRINO_JAVA_HOME"
}

trino_install() {
  TRINO_JAVA=$(trino_java)
  [ -f "$TRINO_HOME/.installed" ] && return 0
  local archive=$CACHE_DIR/downloads/trino-server-$TRINO_VERSION.tar.gz
  download "$MAVEN_CENTRAL/io/trino/trino-server/$TRINO_VERSION/trino-server-$TRINO_VERSION.tar.gz" \
    "$archive" "$TRINO_SHA256"
  rm -rf "$TRINO_HOME"
  mkdir -p "$CACHE_DIR/trino-unpack"
  tar -xzf "$archive" -C "$CACHE_DIR/trino-unpack" || fail "trino: could not unpack $archive"
  mv "$CACHE_DIR/trino-unpack/trino-server-$TRINO_VERSION" "$TRINO_HOME"
  rmdir "$CACHE_DIR/trino-unpack"
  [ -d "$TRINO_HOME/plugin/hive" ] || fail "trino: plugin/hive missing from $archive"
  # The plugins this stack loads: Trino loads every folder of plugin.dir at start-up.
  mkdir -p "$TRINO_HOME/payflow-plugins"
  ln -sfn "$TRINO_HOME/plugin/hive" "$TRINO_HOME/payflow-plugins/hive"
  touch "$TRINO_HOME/.installed"
}

trino_configure() {
  local etc=$TRINO_DATA/etc
  mkdir -p "$etc/catalog" "$TRINO_DATA/warehouse"
  cat >"$etc/config.properties" <<PROPS
node.environment=payflow
node.id=payflow-trino-1
node.bind-ip=127.0.0.1
node.internal-address=127.0.0.1
coordinator=true
node-scheduler.include-coordinator=true
http-server.http.port=$TRINO_PORT
discovery.uri=http://127.0.0.1:$TRINO_PORT
plugin.dir=$TRINO_HOME/payflow-plugins
catalog.config-dir=$etc/catalog
# The server log is stdout (logs/trino.log); no request log.
http-server.log.enabled=false
PROPS
  cat >"$etc/log.properties" <<'PROPS'
io.trino=INFO
PROPS
  # The S3 credentials are the stack's own, for a loopback-only store. Trino only reads the
  # archive: writes to its external tables stay refused.
  : >"$etc/catalog/archive.properties"
  chmod 600 "$etc/catalog/archive.properties"
  cat >"$etc/catalog/archive.properties" <<PROPS
connector.name=hive
hive.metastore=file
hive.metastore.catalog.dir=local:///metastore
fs.native-local.enabled=true
local.location=$TRINO_DATA/warehouse
fs.native-s3.enabled=true
s3.endpoint=http://127.0.0.1:$S3_PORT
s3.region=us-east-1
s3.path-style-access=true
s3.aws-access-key=$S3_ACCESS_KEY
s3.aws-secret-key=$S3_SECRET_KEY
hive.partition-projection-enabled=true
hive.non-managed-table-writes-enabled=false
PROPS
}

trino_start() {
  TRINO_JAVA=${TRINO_JAVA:-$(trino_java)}
  trino_configure
  launch trino env --chdir="$TRINO_DATA" "$TRINO_JAVA" -Xms256m -Xmx1g -XX:+UseG1GC \
    --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
    -XX:+ExitOnOutOfMemoryError -XX:-OmitStackTraceInFastThrow -XX:ReservedCodeCacheSize=256M \
    -Djdk.attach.allowAttachSelf=true -XX:+EnableDynamicAgentLoading -Dfile.encoding=UTF-8 -Duser.timezone=UTC \
    -Dconfig="$TRINO_DATA/etc/config.properties" -Dlog.levels-file="$TRINO_DATA/etc/log.properties" \
    -Dpayflow.home="$PAYFLOW_HOME" -cp "$TRINO_HOME/lib/*" io.trino.server.TrinoServer
}

# Healthy once the server has finished starting (catalogs loaded): /v1/info says "starting":false.
trino_healthy() {
  curl -fsS --max-time 2 "http://127.0.0.1:$TRINO_PORT/v1/info" | grep -q '"starting":false'
}

trino_endpoint() { echo "http://127.0.0.1:$TRINO_PORT (catalog archive: Hive over the S3 store)"; }
