#!/opt/secantus/bin/python3
"""`mongosh` of the mongo:7 stand-in: NOT MongoDB's shell. It evaluates only the expressions logpipe's compose
file and docs use, through pymongo, against the server in this container:

  mongosh --quiet --eval "db.adminCommand('ping').ok"          prints 1 (the compose health check)
  mongosh [DB] --quiet --eval 'db.getCollectionNames()'          the collections of DB (default test)
  mongosh [DB] --quiet --eval 'db.<collection>.countDocuments()' how many documents a collection holds

Anything else: exit 2 saying so. Exit 1 when the server does not answer.
"""
import json
import re
import sys

import pymongo


def main(argv):
    database, expression, port = "test", None, 27017
    arguments = iter(argv)
    for argument in arguments:
        if argument == "--eval":
            expression = next(arguments, None)
        elif argument == "--port":
            port = int(next(arguments, "27017"))
        elif argument in ("--quiet", "--norc", "--nodb"):
            continue
        elif argument.startswith("-"):
            print(f"mongosh (stand-in): option {argument} is not supported", file=sys.stderr)
            return 2
        else:
            database = argument.rsplit("/", 1)[-1] or "test"
    if expression is None:
        print("mongosh (stand-in): only --eval is supported (this is not MongoDB's shell)", file=sys.stderr)
        return 2
    client = pymongo.MongoClient(f"mongodb://127.0.0.1:{port}/?directConnection=true", serverSelectionTimeoutMS=5000)
    db = client[database]
    expression = expression.strip().rstrip(";")
    try:
        if re.fullmatch(r"db\.adminCommand\(\s*['\"]ping['\"]\s*\)\.ok|db\.adminCommand\(\s*\{\s*ping\s*:\s*1\s*\}\s*\)\.ok", expression):
            print(int(client.admin.command("ping")["ok"]))
        elif expression == "db.getCollectionNames()":
            print(json.dumps(sorted(db.list_collection_names())))
        elif match := re.fullmatch(r"db\.([A-Za-z0-9_-]+)\.countDocuments\(\)", expression):
            print(db[match.group(1)].count_documents({}))
        else:
            print("mongosh (stand-in): this expression is not supported (this is not MongoDB's shell)", file=sys.stderr)
            return 2
    except pymongo.errors.PyMongoError as error:
        print(f"mongosh (stand-in): {type(error).__name__}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
