#!/bin/sh
# The stand-in's entry point (not the official one): `mongod [--port P]` runs SecantusDB as the mongodb user, on
# all interfaces, data in /data/db, as a standalone server (no replica-set advertisement, like mongod without
# --replSet). It stops cleanly on SIGTERM. Anything else is run as given.
set -eu
if [ "${1:-}" = mongod ]; then
  shift
  port=27017
  while [ $# -gt 0 ]; do
    case "$1" in
      --port) port=$2; shift 2 ;;
      --bind_ip_all) shift ;;
      *) echo "mongo stand-in: mongod option $1 is not supported by this stand-in (SecantusDB)" >&2; exit 2 ;;
    esac
  done
  chown -R mongodb:mongodb /data/db
  # setpriv keeps root's HOME, where SecantusDB looks for a configuration file it may not read.
  export HOME=/data/db
  cd /data/db
  exec setpriv --reuid=mongodb --regid=mongodb --init-groups \
    /opt/secantus/bin/secantusd-py --host 0.0.0.0 --port "$port" --storage-path /data/db --standalone --log-level WARNING
fi
exec "$@"
