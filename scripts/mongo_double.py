#!/usr/bin/python3
"""A MongoDB wire-protocol TEST DOUBLE for logpipe's tests. It is not MongoDB and not a database.

No MongoDB server can be installed on the machines logpipe is tested on, so the MongoDB store is tested
through the real driver (libmongoc) against this double, built on Debian's python3-mockupdb. It keeps
documents per database and collection in memory and answers the commands the store uses the way MongoDB
does: hello/isMaster, ping, insert (E11000 on a duplicate _id, ordered or not), update (replacement and
$set, upsert by _id), find (equality, $gt/$gte/$lt/$lte, $in, $exists and $regex filters, sort, skip,
limit), count, delete, listCollections, listDatabases, drop, dropDatabase, and index bookkeeping:
createIndexes (code 85 when an index on the same key exists with other options), listIndexes (code 26 for
a missing collection), collMod of an index's expireAfterSeconds, dropIndexes. Indexes are only recorded:
the double does not use them, and it runs no TTL monitor (documents never expire here). Failures can be injected with the command
{"logpipeDouble": 1, "failWrites": N, "mode": "error" | "hangup", "after": K, "code": C} (after K more write
commands succeed, the next N fail with a retryable error -- code C, default 91 ShutdownInProgress, with the
RetryableWriteError label -- or a dropped connection), per database, and cleared with
{"logpipeDouble": 1, "reset": true}. A replica-set step-down, for the whole double: {"logpipeDouble": 1,
"notPrimary": true} makes hello answer as a secondary of replica set "rs0" and every write fail with 10107
NotWritablePrimary until {"logpipeDouble": 1, "notPrimary": false}. {"logpipeDouble": 1, "maxWriteBatchSize": N} sets what hello announces
to connections made from then on (the driver splits larger bulk writes into several commands).

All connections are served one request at a time under one lock: meaningless for performance numbers.

    /usr/bin/python3 scripts/mongo_double.py --port 27917     # prints "ready 27917" when listening
    /usr/bin/python3 scripts/mongo_double.py --port 0 --ready-file /tmp/port   # the tests: a free port
"""
import argparse
import datetime
import re
import sys
import threading
from collections import OrderedDict

from bson import SON
from mockupdb import MockupDB, OpMsg

WRITE_COMMANDS = {"insert", "update", "delete"}


class Double:
    def __init__(self):
        self.databases = {}
        self.indexes = {}  # (database, collection) -> [index spec], without the implicit _id_ index
        self.fail_writes = {}  # database -> how many write commands still fail
        self.fail_mode = {}
        self.fail_after = {}  # database -> write commands that still succeed before failures start
        self.fail_code = {}  # database -> the error code of the injected failures
        self.not_primary = False  # a stepped-down primary: hello says secondary, writes fail with 10107
        self.max_write_batch_size = 100000
        self.lock = threading.Lock()

    def collection(self, database, name, create=True):
        colls = self.databases.setdefault(database, {}) if create else self.databases.get(database, {})
        if create:
            return colls.setdefault(name, OrderedDict())
        return colls.get(name, OrderedDict())

    # -- commands -------------------------------------------------------------------------------------

    def hello(self, request, cmd):
        if self.not_primary:
            return {"ismaster": False, "isWritablePrimary": False, "secondary": True, "setName": "rs0", "helloOk": True,
                    "minWireVersion": 0, "maxWireVersion": 13, "maxBsonObjectSize": 16 * 1024 * 1024,
                    "maxMessageSizeBytes": 48 * 1000 * 1000, "maxWriteBatchSize": self.max_write_batch_size,
                    "localTime": datetime.datetime.now(datetime.timezone.utc), "ok": 1}
        return {"ismaster": True, "isWritablePrimary": True, "helloOk": True, "minWireVersion": 0,
                "maxWireVersion": 13, "maxBsonObjectSize": 16 * 1024 * 1024,
                "maxMessageSizeBytes": 48 * 1000 * 1000, "maxWriteBatchSize": self.max_write_batch_size,
                "localTime": datetime.datetime.now(datetime.timezone.utc), "ok": 1}

    def insert(self, request, cmd):
        coll = self.collection(request.namespace, cmd["insert"])
        ordered = cmd.get("ordered", True)
        inserted, errors = 0, []
        for index, doc in enumerate(cmd.get("documents", [])):
            key = doc.get("_id")
            if key in coll:
                errors.append({"index": index, "code": 11000,
                               "errmsg": "E11000 duplicate key error collection: %s.%s index: _id_ dup key"
                                         % (request.namespace, cmd["insert"])})
                if ordered:
                    break
                continue
            coll[key] = doc
            inserted += 1
        reply = {"n": inserted, "ok": 1}
        if errors:
            reply["writeErrors"] = errors
        return reply

    def update(self, request, cmd):
        coll = self.collection(request.namespace, cmd["update"])
        matched, modified, upserted = 0, 0, []
        for index, spec in enumerate(cmd.get("updates", [])):
            query, change = spec.get("q", {}), spec.get("u", {})
            hits = [key for key, doc in coll.items() if matches(doc, query)]
            if not spec.get("multi"):
                hits = hits[:1]
            operators = any(k.startswith("$") for k in change)
            for key in hits:
                matched += 1
                if operators:
                    coll[key].update(change.get("$set", {}))
                else:
                    replacement = OrderedDict(change)
                    replacement["_id"] = key
                    coll[key] = replacement
                modified += 1
            if not hits and spec.get("upsert"):
                doc = OrderedDict((k, v) for k, v in query.items() if not k.startswith("$"))
                if operators:
                    doc.update(change.get("$setOnInsert", {}))
                    doc.update(change.get("$set", {}))
                else:
                    doc.update(change)
                doc.setdefault("_id", query.get("_id"))
                coll[doc["_id"]] = doc
                upserted.append({"index": index, "_id": doc["_id"]})
        reply = {"n": matched + len(upserted), "nModified": modified, "ok": 1}
        if upserted:
            reply["upserted"] = upserted
        return reply

    def find(self, request, cmd):
        name = cmd["find"]
        docs = [d for d in self.collection(request.namespace, name, create=False).values()
                if matches(d, cmd.get("filter", {}))]
        sort = cmd.get("sort") or {}
        for field, direction in reversed(list(sort.items())):
            if field == "$natural":
                if direction < 0:
                    docs.reverse()
                continue
            docs.sort(key=lambda d: sort_key(d.get(field)), reverse=direction < 0)
        skip, limit = int(cmd.get("skip", 0)), int(cmd.get("limit", 0))
        docs = docs[skip:]
        if limit:
            docs = docs[:abs(limit)]
        return {"cursor": {"id": 0, "ns": "%s.%s" % (request.namespace, name), "firstBatch": docs}, "ok": 1}

    def count(self, request, cmd):
        docs = self.collection(request.namespace, cmd["count"], create=False).values()
        return {"n": sum(1 for d in docs if matches(d, cmd.get("query") or {})), "ok": 1}

    def delete(self, request, cmd):
        coll = self.collection(request.namespace, cmd["delete"])
        removed = 0
        for spec in cmd.get("deletes", []):
            hits = [key for key, doc in coll.items() if matches(doc, spec.get("q", {}))]
            if spec.get("limit") == 1:
                hits = hits[:1]
            for key in hits:
                del coll[key]
                removed += 1
        return {"n": removed, "ok": 1}

    def listcollections(self, request, cmd):
        names = sorted(self.databases.get(request.namespace, {}).keys())
        batch = [{"name": n, "type": "collection", "options": {}, "info": {"readOnly": False}} for n in names]
        return {"cursor": {"id": 0, "ns": "%s.$cmd.listCollections" % request.namespace, "firstBatch": batch}, "ok": 1}

    def listdatabases(self, request, cmd):
        return {"databases": [{"name": n, "sizeOnDisk": 0, "empty": False} for n in sorted(self.databases)],
                "totalSize": 0, "ok": 1}

    def drop(self, request, cmd):
        self.databases.get(request.namespace, {}).pop(cmd["drop"], None)
        self.indexes.pop((request.namespace, cmd["drop"]), None)
        return {"ok": 1}

    def dropdatabase(self, request, cmd):
        self.databases.pop(request.namespace, None)
        for key in [key for key in self.indexes if key[0] == request.namespace]:
            del self.indexes[key]
        return {"ok": 1}

    def createindexes(self, request, cmd):
        name = cmd["createIndexes"]
        self.collection(request.namespace, name)
        specs = self.indexes.setdefault((request.namespace, name), [])
        created = 0
        for wanted in cmd.get("indexes", []):
            key = list(wanted["key"].items())
            same = next((spec for spec in specs if list(spec["key"].items()) == key), None)
            if same is None:
                specs.append(dict(wanted, v=2))
                created += 1
            elif same.get("name") != wanted.get("name") or same.get("expireAfterSeconds") != wanted.get("expireAfterSeconds"):
                raise CommandError(85, "Index already exists with a different name or options (IndexOptionsConflict)")
        before = len(specs) - created + 1
        return {"numIndexesBefore": before, "numIndexesAfter": len(specs) + 1, "createdCollectionAutomatically": False,
                "ok": 1}

    def listindexes(self, request, cmd):
        name = cmd["listIndexes"]
        if name not in self.databases.get(request.namespace, {}):
            raise CommandError(26, "ns does not exist (NamespaceNotFound)")
        batch = [{"v": 2, "key": {"_id": 1}, "name": "_id_"}] + self.indexes.get((request.namespace, name), [])
        return {"cursor": {"id": 0, "ns": "%s.%s" % (request.namespace, name), "firstBatch": batch}, "ok": 1}

    def collmod(self, request, cmd):
        name = cmd["collMod"]
        change = cmd.get("index") or {}
        specs = self.indexes.get((request.namespace, name), [])
        spec = next((s for s in specs if ("keyPattern" in change and list(s["key"].items()) == list(change["keyPattern"].items()))
                     or s.get("name") == change.get("name")), None)
        if spec is None:
            raise CommandError(27, "cannot find index (IndexNotFound)")
        old = spec.get("expireAfterSeconds")
        spec["expireAfterSeconds"] = change["expireAfterSeconds"]
        reply = {"expireAfterSeconds_new": change["expireAfterSeconds"], "ok": 1}
        if old is not None:
            reply["expireAfterSeconds_old"] = old
        return reply

    def dropindexes(self, request, cmd):
        specs = self.indexes.get((request.namespace, cmd["dropIndexes"]), [])
        kept = [spec for spec in specs if spec.get("name") != cmd.get("index") and cmd.get("index") != "*"]
        if len(kept) == len(specs) and cmd.get("index") != "*":
            raise CommandError(27, "index not found (IndexNotFound)")
        self.indexes[(request.namespace, cmd["dropIndexes"])] = kept
        return {"nIndexesWas": len(specs) + 1, "ok": 1}

    def logpipedouble(self, request, cmd):
        database = request.namespace
        if cmd.get("reset"):
            self.fail_writes.pop(database, None)
            self.fail_after.pop(database, None)
        if "failWrites" in cmd:
            self.fail_writes[database] = int(cmd["failWrites"])
            self.fail_mode[database] = cmd.get("mode", "error")
            self.fail_after[database] = int(cmd.get("after", 0))
            self.fail_code[database] = int(cmd.get("code", 91))
        if "notPrimary" in cmd:
            self.not_primary = bool(cmd["notPrimary"])
        if "maxWriteBatchSize" in cmd:
            self.max_write_batch_size = int(cmd["maxWriteBatchSize"])
        return {"failWrites": self.fail_writes.get(database, 0), "ok": 1}

    # -- dispatch -------------------------------------------------------------------------------------

    def handle(self, request):
        cmd = request.doc
        name = next(iter(cmd)).lower() if cmd else ""
        no_reply = isinstance(request, OpMsg) and request.flags & 2  # moreToCome: w:0, never answered
        with self.lock:
            if name in WRITE_COMMANDS and self.fail_after.get(request.namespace, 0) > 0:
                self.fail_after[request.namespace] -= 1
            elif name in WRITE_COMMANDS and self.fail_writes.get(request.namespace, 0) > 0:
                self.fail_writes[request.namespace] -= 1
                if self.fail_mode.get(request.namespace) == "hangup":
                    request.hangup()
                    return
                if not no_reply:
                    request.command_err(code=self.fail_code.get(request.namespace, 91), errmsg="injected failure",
                                        errorLabels=["RetryableWriteError"])
                return
            if name in WRITE_COMMANDS and self.not_primary:
                if not no_reply:
                    request.command_err(code=10107, errmsg="not primary", errorLabels=["RetryableWriteError"])
                return
            handler = {"hello": self.hello, "ismaster": self.hello, "ping": ok, "buildinfo": build_info,
                       "endsessions": ok, "killcursors": ok, "getlasterror": ok}.get(name) or getattr(self, name, None)
            try:
                if handler is None:
                    reply = None
                    if not no_reply:
                        request.command_err(code=59, errmsg="no such command: '%s'" % name)
                    return
                reply = handler(request, cmd)
            except CommandError as error:
                if not no_reply:
                    request.command_err(code=error.code, errmsg=error.message)
                return
            except Exception as error:  # noqa: BLE001 -- every request gets an answer
                if not no_reply:
                    request.command_err(code=1, errmsg="test double error: %s" % error)
                return
        if not no_reply:
            request.reply(reply)


class CommandError(Exception):
    """A command MongoDB would refuse, with its code."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def ok(request, cmd):
    return {"ok": 1}


def build_info(request, cmd):
    return {"version": "7.0.0-logpipe-test-double", "versionArray": [7, 0, 0, 0], "ok": 1}


def matches(doc, query):
    for key, want in query.items():
        if key.startswith("$"):
            continue
        if isinstance(want, dict) and any(k.startswith("$") for k in want):
            value = doc.get(key)
            for op, arg in want.items():
                if op == "$in" and value not in arg:
                    return False
                if op == "$exists" and (key in doc) != bool(arg):
                    return False
                if op in COMPARISONS and not compare(value, op, arg):
                    return False
                if op == "$regex" and not (isinstance(value, str) and re.search(arg, value)):
                    return False
            continue
        if doc.get(key) != want:
            return False
    return True


COMPARISONS = {"$gt", "$gte", "$lt", "$lte"}


def compare(value, op, arg):
    """MongoDB compares only values of the same kind (dates with dates, numbers with numbers, strings with strings)."""
    def kind(x):
        if isinstance(x, bool) or x is None:
            return None
        if isinstance(x, (int, float)):
            return "number"
        if isinstance(x, datetime.datetime):
            return "date"
        if isinstance(x, str):
            return "string"
        return None
    if kind(value) is None or kind(value) != kind(arg):
        return False
    if isinstance(value, datetime.datetime) and isinstance(arg, datetime.datetime):
        value, arg = value.replace(tzinfo=None), arg.replace(tzinfo=None)
    return {"$gt": value > arg, "$gte": value >= arg, "$lt": value < arg, "$lte": value <= arg}[op]


def sort_key(value):
    return (value is None, str(type(value)), value if value is not None else 0)


def main():
    parser = argparse.ArgumentParser(description="MongoDB wire-protocol test double (not a database)")
    parser.add_argument("--port", type=int, default=27917, help="0 picks a free port")
    parser.add_argument("--ready-file", help="write the bound port here once listening")
    args = parser.parse_args()
    server = MockupDB(port=args.port, request_timeout=10 ** 9)
    port = server.run()
    double = Double()
    if args.ready_file:
        with open(args.ready_file + ".tmp", "w") as handle:
            handle.write(str(port))
        import os
        os.replace(args.ready_file + ".tmp", args.ready_file)
    print("ready %d" % port, flush=True)
    while True:
        try:
            request = server.receives()
        except OSError:
            # The client of a queued request hung up before it was read (mockupdb asks the closed socket for its
            # address): that request has no one to answer; the next one is served (seen in the chaos soak).
            continue
        if request is None:
            break
        try:
            double.handle(request)
        except OSError:
            continue  # the client left before its answer was written


if __name__ == "__main__":
    sys.exit(main())
