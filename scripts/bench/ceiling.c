/* The broker's own ceiling for the benchmark (scripts/bench/run.py): a minimal rabbitmq-c publisher, one
 * connection and channel in confirm mode, persistent messages of --size bytes to a durable queue of its own, always
 * --inflight publishes awaiting their confirm, for --seconds. Prints {"confirmed": n, "seconds": s,
 * "per_second": r}. Nothing of logpipe is in the path: it is the reference logpipe's bridge is compared with.
 *
 *   cc -O2 -o ceiling scripts/bench/ceiling.c -lrabbitmq
 *   ./ceiling --host 127.0.0.1 --port 5742 --seconds 5 --size 200 --inflight 1000
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die_rpc(amqp_rpc_reply_t reply, const char *what) {
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) return;
    fprintf(stderr, "ceiling: %s failed (reply type %d)\n", what, reply.reply_type);
    exit(1);
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *queue = "bench.ceiling.c";
    int port = 5672, size = 200, inflight = 1000, mandatory = 0;
    double seconds = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--host")) host = argv[i + 1];
        else if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--size")) size = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--inflight")) inflight = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--queue")) queue = argv[i + 1];
        else if (!strcmp(argv[i], "--mandatory")) mandatory = atoi(argv[i + 1]);
        else { fprintf(stderr, "ceiling: unknown option %s\n", argv[i]); return 2; }
    }
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *socket = amqp_tcp_socket_new(conn);
    if (!socket || amqp_socket_open(socket, host, port) != AMQP_STATUS_OK) {
        fprintf(stderr, "ceiling: cannot connect to %s:%d\n", host, port);
        return 1;
    }
    die_rpc(amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"), "login");
    amqp_channel_open(conn, 1);
    die_rpc(amqp_get_rpc_reply(conn), "channel.open");
    amqp_confirm_select(conn, 1);
    die_rpc(amqp_get_rpc_reply(conn), "confirm.select");
    /* Durable, like logpipe's work queues: a persistent message to a transient queue is never written to disk. */
    amqp_queue_declare(conn, 1, amqp_cstring_bytes(queue), 0, 1, 0, 0, amqp_empty_table);
    die_rpc(amqp_get_rpc_reply(conn), "queue.declare");
    amqp_queue_purge(conn, 1, amqp_cstring_bytes(queue));
    die_rpc(amqp_get_rpc_reply(conn), "queue.purge");

    char *payload = malloc(size);
    memset(payload, 'x', size);
    amqp_bytes_t body = {.len = (size_t)size, .bytes = payload};
    amqp_basic_properties_t properties = {
        ._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG,
        .content_type = amqp_cstring_bytes("application/json"),
        .delivery_mode = AMQP_DELIVERY_PERSISTENT,
    };
    uint64_t published = 0, confirmed = 0;
    double start = now(), deadline = start + seconds;
    int publishing = 1;
    for (;;) {
        if (publishing && now() >= deadline) publishing = 0;
        if (!publishing && confirmed >= published) break;
        while (publishing && published - confirmed < (uint64_t)inflight) {
            if (amqp_basic_publish(conn, 1, amqp_empty_bytes, amqp_cstring_bytes(queue), mandatory, 0, &properties, body) != AMQP_STATUS_OK) {
                fprintf(stderr, "ceiling: publish failed\n");
                return 1;
            }
            published++;
        }
        amqp_frame_t frame;
        struct timeval timeout = {.tv_sec = 5, .tv_usec = 0};
        int status = amqp_simple_wait_frame_noblock(conn, &frame, &timeout);
        if (status != AMQP_STATUS_OK) {
            fprintf(stderr, "ceiling: waiting for confirms failed (%d) with %llu published, %llu confirmed\n", status,
                    (unsigned long long)published, (unsigned long long)confirmed);
            return 1;
        }
        if (frame.frame_type == AMQP_FRAME_METHOD && frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
            amqp_basic_ack_t *ack = frame.payload.method.decoded;
            /* One channel confirms in publish order: the highest tag acked so far is the count confirmed. */
            if (ack->delivery_tag > confirmed) confirmed = ack->delivery_tag;
        } else if (frame.frame_type == AMQP_FRAME_METHOD && frame.payload.method.id == AMQP_BASIC_NACK_METHOD) {
            fprintf(stderr, "ceiling: the broker nacked a publish\n");
            return 1;
        }
        amqp_maybe_release_buffers(conn);
    }
    double elapsed = now() - start;
    amqp_queue_purge(conn, 1, amqp_cstring_bytes(queue));
    amqp_get_rpc_reply(conn);
    amqp_queue_delete(conn, 1, amqp_cstring_bytes(queue), 0, 0);
    amqp_get_rpc_reply(conn);
    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
    printf("{\"confirmed\": %llu, \"seconds\": %.3f, \"per_second\": %d}\n", (unsigned long long)confirmed, elapsed,
           (int)(confirmed / elapsed));
    return 0;
}
