#!/bin/sh
# The stand-in's entry point (not the official one): writes what the official image takes from its environment
# into conf.d, then runs the node as the rabbitmq user, in the foreground (it stops cleanly on SIGTERM).
set -eu
if [ "${1:-}" = rabbitmq-server ]; then
  {
    echo "## written by the stand-in's entry point from the container's environment"
    echo "loopback_users = none"
    echo "listeners.tcp.default = 5672"
    echo "management.tcp.port = 15672"
    [ -z "${RABBITMQ_DEFAULT_USER:-}" ] || echo "default_user = $RABBITMQ_DEFAULT_USER"
    [ -z "${RABBITMQ_DEFAULT_PASS:-}" ] || echo "default_pass = $RABBITMQ_DEFAULT_PASS"
    [ -z "${RABBITMQ_DEFAULT_VHOST:-}" ] || echo "default_vhost = $RABBITMQ_DEFAULT_VHOST"
  } > /etc/rabbitmq/conf.d/10-defaults.conf
  chmod 640 /etc/rabbitmq/conf.d/10-defaults.conf
  chown root:rabbitmq /etc/rabbitmq/conf.d/10-defaults.conf
  mkdir -p /var/lib/rabbitmq
  if [ -n "${RABBITMQ_ERLANG_COOKIE:-}" ]; then
    rm -f /var/lib/rabbitmq/.erlang.cookie
    printf '%s' "$RABBITMQ_ERLANG_COOKIE" > /var/lib/rabbitmq/.erlang.cookie
    chmod 400 /var/lib/rabbitmq/.erlang.cookie
  fi
  chown -R rabbitmq:rabbitmq /var/lib/rabbitmq
  # The CLI tools (rabbitmqctl, rabbitmq-diagnostics) read the cookie from the rabbitmq user's home; the
  # variable would only make them print a deprecation warning.
  unset RABBITMQ_ERLANG_COOKIE
  exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups /usr/lib/rabbitmq/bin/rabbitmq-server
fi
exec "$@"
