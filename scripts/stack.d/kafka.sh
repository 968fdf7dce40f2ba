# Apache Kafka, one node in KRaft mode (broker + controller), from Maven Central jars.

KAFKA_HOME=$CACHE_DIR/kafka-$KAFKA_VERSION
KAFKA_DATA=$DATA_DIR/kafka

kafka_install() {
  [ -f "$KAFKA_HOME/.installed" ] && return 0
  command -v mvn >/dev/null || apt_install maven
  say "installing kafka $KAFKA_VERSION (jars from Maven Central)"
  mkdir -p "$KAFKA_HOME"
  cat >"$KAFKA_HOME/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.payflow.stack</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_$KAFKA_SCALA</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>$SLF4J_RELOAD4J_VERSION</version></dependency>
  </dependencies>
</project>
POM
  (cd "$KAFKA_HOME" && mvn -q -B -Dmaven.repo.local="$CACHE_DIR/m2" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DoutputDirectory=lib -DincludeScope=runtime) >"$LOG_DIR/kafka-install.log" 2>&1 ||
    { tail -n 30 "$LOG_DIR/kafka-install.log" >&2; fail "kafka: maven could not fetch the broker jars"; }
  cat >"$KAFKA_HOME/log4j.properties" <<'LOG'
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
LOG
  touch "$KAFKA_HOME/.installed"
}

kafka_configure() {
  mkdir -p "$KAFKA_DATA"
  cat >"$KAFKA_DATA/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_DATA/log
num.partitions=6
# Topics come from PayFlow's topic catalogue; a typo must not silently create a topic.
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=12
group.initial.rebalance.delay.ms=0
log.cleaner.enable=true
PROPS
}

kafka_start() {
  kafka_configure
  if [ ! -f "$KAFKA_DATA/log/meta.properties" ]; then
    local cluster_id
    cluster_id=$("$JAVA" -cp "$KAFKA_HOME/lib/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
    [ -n "$cluster_id" ] || fail "kafka: StorageTool random-uuid printed nothing"
    "$JAVA" -cp "$KAFKA_HOME/lib/*" -Dlog4j.configuration="file:$KAFKA_HOME/log4j.properties" \
      kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_DATA/server.properties" \
      >"$LOG_DIR/kafka-format.log" 2>&1 || fail "kafka: storage format (see $LOG_DIR/kafka-format.log)"
  fi
  launch kafka "$JAVA" -Xms512m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$KAFKA_HOME/log4j.properties" \
    -cp "$KAFKA_HOME/lib/*" kafka.Kafka "$KAFKA_DATA/server.properties"
}

kafka_healthy() {
  tcp_open "$KAFKA_PORT" || return 1
  node "$STACK_DIR/probe-kafka.mjs" "127.0.0.1:$KAFKA_PORT"
}

kafka_endpoint() { echo "127.0.0.1:$KAFKA_PORT (PLAINTEXT; controller 127.0.0.1:$KAFKA_CONTROLLER_PORT)"; }
