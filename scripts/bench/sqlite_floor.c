/* The floor of the worker's store cost (docs/performance.md): the least SQLite does to keep the rows logpipe keeps,
 * written by a minimal C program. Same schema and index as the SQLite store's tenant tables, same journal (WAL) and
 * durability (synchronous=FULL), the same insert (ON CONFLICT(log_id) DO NOTHING), prepared once per table, rows of
 * the benchmark's shape (a redacted ~200-byte text, its redaction counts, three timestamps, a request id, a level),
 * spread over `tenants` tables in turn (10, as the benchmark's loads, unless given), `batch` rows per transaction.
 * No broker, no decoding, no redaction.
 * Usage: sqlite_floor <database> <rows> <batch> [tenants]. The benchmark runs it under callgrind for N and 2N rows;
 * the difference over N is SQLite's own instructions per row. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static void check(int code, sqlite3 *db, const char *what) {
    if (code != SQLITE_OK && code != SQLITE_DONE && code != SQLITE_ROW) {
        fprintf(stderr, "sqlite_floor: %s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: sqlite_floor <database> <rows> <batch> [tenants]\n");
        return 2;
    }
    long rows = atol(argv[2]), batch = atol(argv[3]);
    int tenants = argc == 5 ? atoi(argv[4]) : 10;
    if (rows < 1 || batch < 1 || tenants < 1 || tenants > 100000) return 2;
    sqlite3 *db;
    check(sqlite3_open(argv[1], &db), db, "open");
    check(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000", 0, 0, 0), db, "pragmas");
    sqlite3_stmt **insert = calloc((size_t)tenants, sizeof *insert);
    if (!insert) return 1;
    for (int t = 0; t < tenants; t++) {
        char sql[1024];
        snprintf(sql, sizeof sql,
                 "CREATE TABLE IF NOT EXISTS \"tenant%d\" (log_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, text TEXT NOT NULL, "
                 "redactions TEXT NOT NULL, received_at TEXT NOT NULL, processed_at TEXT NOT NULL, request_id TEXT NOT NULL, "
                 "timestamp TEXT, level TEXT, source TEXT, attributes TEXT); "
                 "CREATE INDEX IF NOT EXISTS \"tenant%d.received_at\" ON \"tenant%d\" (received_at)",
                 t, t, t);
        check(sqlite3_exec(db, sql, 0, 0, 0), db, "create");
        snprintf(sql, sizeof sql,
                 "INSERT INTO \"tenant%d\" (log_id, tenant_id, text, redactions, received_at, processed_at, request_id, "
                 "timestamp, level, source, attributes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(log_id) DO NOTHING",
                 t);
        check(sqlite3_prepare_v2(db, sql, -1, &insert[t], 0), db, "prepare");
    }
    /* A run's ids must not collide with an earlier run's on the same file. */
    unsigned long run;
    sqlite3_randomness(sizeof run, &run);
    for (long i = 0; i < rows; i++) {
        if (i % batch == 0) check(sqlite3_exec(db, "BEGIN IMMEDIATE", 0, 0, 0), db, "begin");
        int t = (int)(i % tenants);
        char id[48], tenant[16], text[256], request[48], stamp[32];
        snprintf(id, sizeof id, "0193a5c2-%04lx-7%03lx-8%03lx-%012lx", run & 0xffff, (i >> 24) & 0xfff, (i >> 12) & 0xfff, i);
        snprintf(tenant, sizeof tenant, "tenant%d", t);
        snprintf(text, sizeof text,
                 "GET /api/v1/orders/%ld 200 12ms user=[REDACTED:EMAIL] ip=[REDACTED:IP_ADDRESS] ua=Mozilla/5.0 (X11; Linux x86_64) "
                 "trace=4bf92f3577b34da6a3ce929d0e0e4736 note=checkout ok", i);
        snprintf(request, sizeof request, "0193a5c2-%04lx-7000-8000-%012lx", run & 0xffff, i / 100);
        snprintf(stamp, sizeof stamp, "2026-12-07T03:%02ld:%02ld.%03ldZ", (i / 60000) % 60, (i / 1000) % 60, i % 1000);
        sqlite3_stmt *s = insert[t];
        sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, tenant, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, text, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, "{\"EMAIL\":1,\"IP_ADDRESS\":1}", -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 5, stamp, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 6, stamp, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 7, request, -1, SQLITE_STATIC);
        sqlite3_bind_null(s, 8);
        sqlite3_bind_text(s, 9, "info", -1, SQLITE_STATIC);
        sqlite3_bind_null(s, 10);
        sqlite3_bind_null(s, 11);
        check(sqlite3_step(s), db, "insert");
        sqlite3_reset(s);
        if (i % batch == batch - 1 || i == rows - 1) check(sqlite3_exec(db, "COMMIT", 0, 0, 0), db, "commit");
    }
    for (int t = 0; t < tenants; t++) sqlite3_finalize(insert[t]);
    free(insert);
    check(sqlite3_close(db), db, "close");
    return 0;
}
