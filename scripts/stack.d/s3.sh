# s3proxy with the filesystem backend: a real S3 API server; objects live under data/s3.

S3PROXY_JAR=$CACHE_DIR/downloads/s3proxy-$S3PROXY_VERSION-jar-with-dependencies.jar

s3_install() {
  download "$MAVEN_CENTRAL/org/gaul/s3proxy/$S3PROXY_VERSION/s3proxy-$S3PROXY_VERSION-jar-with-dependencies.jar" \
    "$S3PROXY_JAR" "$S3PROXY_SHA256"
}

s3_start() {
  mkdir -p "$DATA_DIR/s3/objects"
  cat >"$DATA_DIR/s3/s3proxy.properties" <<PROPS
s3proxy.endpoint=http://127.0.0.1:$S3_PORT
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=$S3_ACCESS_KEY
s3proxy.credential=$S3_SECRET_KEY
jclouds.provider=filesystem
jclouds.filesystem.basedir=$DATA_DIR/s3/objects
# Trino's AWS SDK lists with x-amz-optional-object-attributes, a header s3proxy does not know and
# would otherwise refuse the request for.
s3proxy.ignore-unknown-headers=true
PROPS
  launch s3 "$JAVA" -Xms128m -Xmx512m -jar "$S3PROXY_JAR" --properties "$DATA_DIR/s3/s3proxy.properties"
}

# s3proxy answers an anonymous request with an S3 error document: any HTTP answer means it serves.
s3_healthy() {
  local code
  code=$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$S3_PORT/")
  [ "$code" != "000" ]
}

s3_endpoint() { echo "http://127.0.0.1:$S3_PORT (access key $S3_ACCESS_KEY, region us-east-1, path-style)"; }
