#ifndef LOGPIPE_CRABBITMQ_SHIM_H
#define LOGPIPE_CRABBITMQ_SHIM_H

// rabbitmq-c 0.11 (Debian 12) installs <amqp.h>; 0.12+ moved the headers to <rabbitmq-c/…>.
#if __has_include(<rabbitmq-c/amqp.h>)
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/tcp_socket.h>
#include <rabbitmq-c/ssl_socket.h>
#include <rabbitmq-c/framing.h>
#else
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>
#include <amqp_framing.h>
#endif

// amqp_login_with_properties is variadic, which Swift cannot call: this fixed-arity wrapper uses PLAIN.
static inline amqp_rpc_reply_t logpipe_amqp_login_plain(amqp_connection_state_t state, const char *vhost,
                                                        int channel_max, int frame_max, int heartbeat,
                                                        const amqp_table_t *client_properties,
                                                        const char *user, const char *password) {
    return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat, client_properties,
                                      AMQP_SASL_METHOD_PLAIN, user, password);
}

#endif
