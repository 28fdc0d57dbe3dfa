#!/usr/bin/python3
"""Runs every mongosh example of docs/operations.md against a MongoDB-wire-protocol server, through Debian's
pymongo with the same commands, so the docs cannot drift from what the store writes.

It reads the examples from the document itself -- each line of its ```js blocks, every inline `db.…` span and every
`mongosh … --eval '…'` -- and runs each with the pymongo translation listed below for its exact text (whitespace
aside), in the document's order, on database --db (what the examples call `logpipe`). It prints one JSON object per
example, {"id", "example", "result"}, for the caller to check (Tests/IntegrationTests/MongoOperatorDocsTests.swift
seeds the documents through logpipe's store and checks every result). It exits 1, naming them, when the document
has an example this script cannot run or the script runs an example the document no longer has.

    /usr/bin/python3 scripts/mongo_docs_check.py --uri mongodb://… --db logpipe [--docs docs/operations.md]
"""
import argparse
import datetime
import json
import os
import re
import sys

import pymongo  # Debian's python3-pymongo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ids(cursor):
    return [document["_id"] for document in cursor]


def indexes(collection):
    return [{key: value for key, value in index.items() if key in ("name", "key", "expireAfterSeconds")}
            for index in collection.list_indexes()]


# The documented text (whitespace collapsed) -> (id, what it does through pymongo).
TRANSLATIONS = {
    "use logpipe": ("use", lambda db: {"database": db.name}),
    "db.getCollectionNames()": ("collections", lambda db: sorted(db.list_collection_names())),
    "db.acme_corp.countDocuments()": ("count", lambda db: db.acme_corp.count_documents({})),
    'db.acme_corp.findOne({ _id: "01a22516-4f24-74cd-9766-b80fb1660572" })':
        ("find_one", lambda db: db.acme_corp.find_one({"_id": "01a22516-4f24-74cd-9766-b80fb1660572"})),
    "db.acme_corp.find().sort({ received_at: -1 }).limit(10)":
        ("newest", lambda db: ids(db.acme_corp.find().sort([("received_at", -1)]).limit(10))),
    'db.acme_corp.find({ "redactions.EMAIL": { $gt: 0 } }).count()':
        ("email_count", lambda db: db.acme_corp.count_documents({"redactions.EMAIL": {"$gt": 0}})),
    'db.acme_corp.aggregate([{ $project: { r: { $objectToArray: "$redactions" } } }, { $unwind: "$r" }, '
    '{ $group: { _id: "$r.k", total: { $sum: "$r.v" } } }])':
        ("redactions_per_type", lambda db: {row["_id"]: row["total"] for row in db.acme_corp.aggregate([
            {"$project": {"r": {"$objectToArray": "$redactions"}}}, {"$unwind": "$r"},
            {"$group": {"_id": "$r.k", "total": {"$sum": "$r.v"}}}])}),
    'db.acme_corp.find({ request_id: "trace-me-1" })': ("by_request", lambda db: ids(db.acme_corp.find({"request_id": "trace-me-1"}))),
    'db.acme_corp.find({ level: "error", received_at: { $gte: ISODate("2026-11-29T00:00:00Z") } })':
        ("errors_since", lambda db: ids(db.acme_corp.find({
            "level": "error", "received_at": {"$gte": datetime.datetime(2026, 11, 29, tzinfo=datetime.timezone.utc)}}))),
    "db.acme_corp.find({ received_at: { $gte: new Date(Date.now() - 15 * 60 * 1000) } })":
        ("last_15_minutes", lambda db: ids(db.acme_corp.find({
            "received_at": {"$gte": datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=15)}}))),
    'db.acme_corp.find({ "attributes.status": { $gte: 500 } })':
        ("status_500", lambda db: ids(db.acme_corp.find({"attributes.status": {"$gte": 500}}))),
    'db.acme_corp.find({ $expr: { $gte: [{ $getField: { field: "http.status", input: "$attributes" } }, 500] } })':
        ("dotted_key", lambda db: ids(db.acme_corp.find(
            {"$expr": {"$gte": [{"$getField": {"field": "http.status", "input": "$attributes"}}, 500]}}))),
    "db.acme_corp.getIndexes()": ("indexes", lambda db: indexes(db.acme_corp)),
    'db.runCommand({ collMod: "acme_corp", index: { keyPattern: { received_at: 1 }, expireAfterSeconds: 604800 } })':
        ("coll_mod", lambda db: {"ok": db.command("collMod", "acme_corp", index={
            "keyPattern": {"received_at": 1}, "expireAfterSeconds": 604800})["ok"], "indexes": indexes(db.acme_corp)}),
    "db.getCollectionNames().map(c => [c, db[c].estimatedDocumentCount()])":
        ("sizes", lambda db: sorted([name, db[name].estimated_document_count()] for name in db.list_collection_names())),
    'db.acme.updateMany({received_at: {$type: "string"}}, [{$set: {received_at: {$toDate: "$received_at"}}}])':
        ("string_dates", lambda db: {
            "modified": db.acme.update_many({"received_at": {"$type": "string"}},
                                            [{"$set": {"received_at": {"$toDate": "$received_at"}}}]).modified_count,
            "strings_left": db.acme.count_documents({"received_at": {"$type": "string"}}),
            "dates": db.acme.count_documents({"received_at": {"$type": "date"}})}),
}


def normalise(text):
    return re.sub(r"\s+", " ", text).strip().rstrip(";")


def examples(markdown):
    """The mongosh examples of a document, in order: lines of ```js blocks (a line whose brackets are still open
    goes on with the next), inline `db.…` spans elsewhere, and `mongosh … --eval '…'` commands."""
    found, in_js, pending = [], False, ""
    outside = []
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_js = line.strip() == "```js"
            outside.append("")
            continue
        if not in_js:
            outside.append(line)
            for evaluated in re.findall(r"mongosh\b[^'\n]*--eval '([^']*)'", line):
                found.append(normalise(evaluated))
            continue
        code = re.sub(r"\s//.*$", "", line)
        if not code.strip() and not pending:
            continue
        pending = (pending + " " + code) if pending else code
        if sum(pending.count(o) for o in "([{") == sum(pending.count(c) for c in ")]}"):
            found.append(normalise(pending))
            pending = ""
    text = "\n".join(outside)
    for span in re.findall(r"`([^`]+)`", text):
        if re.match(r"\s*db\.\w+\.\w+\(", span) and "(" in span:
            found.append(normalise(span))
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--uri", required=True)
    parser.add_argument("--db", required=True, help="the database the examples call logpipe")
    parser.add_argument("--docs", default=os.path.join(ROOT, "docs", "operations.md"))
    options = parser.parse_args()
    documented = examples(open(options.docs, encoding="utf-8").read())
    unknown = [example for example in documented if example not in TRANSLATIONS]
    stale = [text for text in TRANSLATIONS if text not in documented]
    for example in unknown:
        print(f"mongo_docs_check: an example of {options.docs} has no pymongo translation here: {example}", file=sys.stderr)
    for text in stale:
        print(f"mongo_docs_check: a translated example is no longer in {options.docs}: {text}", file=sys.stderr)
    if unknown or stale:
        return 1
    client = pymongo.MongoClient(options.uri, serverSelectionTimeoutMS=10000)
    database = client[options.db]
    seen = set()
    for example in documented:
        name, run = TRANSLATIONS[example]
        if name in seen:
            continue  # the same command shown twice (getCollectionNames in the compose quick start and the block)
        seen.add(name)
        print(json.dumps({"id": name, "example": example, "result": run(database)}, default=str, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
