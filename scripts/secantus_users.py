#!/usr/bin/python3
"""Creates the two users of a private SecantusDB server (scripts/secantus.sh runs it once per server directory,
while the server runs without --auth): `logpipe` (readWriteAnyDatabase, dbAdminAnyDatabase) for the store and
`logpipe-root` (root) for the tests' fault injection, with the passwords the script wrote into the directory.

    /usr/bin/python3 scripts/secantus_users.py PORT DIRECTORY
"""
import os
import sys

import pymongo  # Debian's python3-pymongo


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    client = pymongo.MongoClient("127.0.0.1", port, directConnection=True, serverSelectionTimeoutMS=10000)
    for user, file, roles in (("logpipe", "app.password", ["readWriteAnyDatabase", "dbAdminAnyDatabase"]),
                              ("logpipe-root", "root.password", ["root"])):
        with open(os.path.join(directory, file)) as handle:
            password = handle.read().strip()
        client.admin.command("createUser", user, pwd=password, roles=roles)
    return 0


if __name__ == "__main__":
    sys.exit(main())
