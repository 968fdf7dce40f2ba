# Elasticsearch 8, the integration-test distribution from Maven Central (no bundled JDK; runs on
# the machine's Java 17), single node, security off, loopback only, as the unprivileged user.

ELASTICSEARCH_HOME=$CACHE_DIR/elasticsearch-$ELASTICSEARCH_VERSION

elasticsearch_install() {
  ensure_service_user
  [ -x "$ELASTICSEARCH_HOME/bin/elasticsearch" ] && return 0
  command -v unzip >/dev/null || apt_install unzip
  local archive=$CACHE_DIR/downloads/elasticsearch-$ELASTICSEARCH_VERSION.zip
  download "$MAVEN_CENTRAL/org/elasticsearch/distribution/integ-test-zip/elasticsearch/$ELASTICSEARCH_VERSION/elasticsearch-$ELASTICSEARCH_VERSION.zip" \
    "$archive" "$ELASTICSEARCH_SHA256"
  unzip -q -o "$archive" -d "$CACHE_DIR" || fail "elasticsearch: could not unpack $archive"
}

elasticsearch_start() {
  local data=$DATA_DIR/elasticsearch conf=$DATA_DIR/elasticsearch/config
  mkdir -p "$data/data" "$data/logs" "$conf"
  cp -n "$ELASTICSEARCH_HOME"/config/* "$conf/" 2>/dev/null || true
  cat >"$conf/elasticsearch.yml" <<YML
cluster.name: payflow
node.name: payflow-es-1
discovery.type: single-node
network.host: 127.0.0.1
http.port: $ELASTICSEARCH_PORT
transport.port: $ELASTICSEARCH_TRANSPORT_PORT
path.data: $data/data
path.logs: $data/logs
xpack.security.enabled: false
action.destructive_requires_name: false
cluster.routing.allocation.disk.threshold_enabled: false
YML
  grant_service_user "$data"
  chmod -R o+rX "$ELASTICSEARCH_HOME"
  # ES writes a few files (keystore, plugins list) into its home on first start.
  chown -R "$SERVICE_USER:$SERVICE_USER" "$ELASTICSEARCH_HOME"
  launch elasticsearch --as-service-user env ES_JAVA_HOME="$JAVA_HOME" ES_PATH_CONF="$conf" \
    ES_JAVA_OPTS="-Xms512m -Xmx1g -Dpayflow.home=$PAYFLOW_HOME" \
    "$ELASTICSEARCH_HOME/bin/elasticsearch"
}

elasticsearch_healthy() {
  curl -fsS --max-time 3 -o /dev/null \
    "http://127.0.0.1:$ELASTICSEARCH_PORT/_cluster/health?wait_for_status=yellow&timeout=2s"
}

elasticsearch_endpoint() { echo "http://127.0.0.1:$ELASTICSEARCH_PORT"; }
