# Apicurio Registry 3.x: the Confluent-compatible schema registry (API at /apis/ccompat/v7).
# Storage is SQL in the stack's own PostgreSQL (database "registry"), so schema ids survive a
# restart just as the Kafka records that carry them do.

REGISTRY_HOME=$CACHE_DIR/apicurio-$APICURIO_VERSION

registry_install() {
  REGISTRY_JAVA=$(java_21_or_newer)
  [ -f "$REGISTRY_HOME/quarkus-run.jar" ] && return 0
  local archive=$CACHE_DIR/downloads/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz
  download "$MAVEN_CENTRAL/io/apicurio/apicurio-registry-app/$APICURIO_VERSION/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz" \
    "$archive" "$APICURIO_SHA256"
  mkdir -p "$REGISTRY_HOME"
  tar -xzf "$archive" -C "$REGISTRY_HOME" || fail "registry: could not unpack $archive"
  [ -f "$REGISTRY_HOME/quarkus-run.jar" ] || fail "registry: quarkus-run.jar missing from $archive"
}

registry_start() {
  postgres_create_database registry
  launch registry env \
    APICURIO_STORAGE_KIND=sql \
    APICURIO_STORAGE_SQL_KIND=postgresql \
    APICURIO_DATASOURCE_URL="jdbc:postgresql://127.0.0.1:$POSTGRES_PORT/registry" \
    APICURIO_DATASOURCE_USERNAME="$POSTGRES_USER" \
    APICURIO_DATASOURCE_PASSWORD="$POSTGRES_PASSWORD" \
    APICURIO_REST_DELETION_ARTIFACT_ENABLED=true \
    APICURIO_REST_DELETION_ARTIFACT_VERSION_ENABLED=true \
    APICURIO_REST_DELETION_GROUP_ENABLED=true \
    QUARKUS_HTTP_HOST=127.0.0.1 \
    QUARKUS_HTTP_PORT="$REGISTRY_PORT" \
    QUARKUS_MANAGEMENT_HOST=127.0.0.1 \
    QUARKUS_MANAGEMENT_PORT="$REGISTRY_MANAGEMENT_PORT" \
    "$REGISTRY_JAVA" -Xms128m -Xmx512m -Dpayflow.home="$PAYFLOW_HOME" -jar "$REGISTRY_HOME/quarkus-run.jar"
}

registry_healthy() {
  http_ok "http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7/subjects"
}

registry_endpoint() { echo "http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7 (Confluent-compatible)"; }
