#!/bin/sh
# As in redis/redis-stack-server: data in /data (REDIS_DATA_DIR), the modules loaded with their
# *_ARGS, and REDIS_ARGS word-split onto the command line (e.g. "--requirepass X --appendonly yes").
# shellcheck disable=SC2086
exec /opt/redis-stack/bin/redis-server \
  --dir "${REDIS_DATA_DIR:-/data}" \
  --protected-mode no \
  --daemonize no \
  --loadmodule /opt/redis-stack/lib/redisearch.so \
    ${REDISEARCH_ARGS:-MAXSEARCHRESULTS 10000 MAXAGGREGATERESULTS 10000} \
  --loadmodule /opt/redis-stack/lib/redistimeseries.so ${REDISTIMESERIES_ARGS} \
  --loadmodule /opt/redis-stack/lib/rejson.so ${REDISJSON_ARGS} \
  --loadmodule /opt/redis-stack/lib/redisbloom.so ${REDISBLOOM_ARGS} \
  ${REDIS_ARGS} \
  "$@"
