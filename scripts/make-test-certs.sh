#!/usr/bin/env bash
# Writes a throw-away certificate authority and certificates signed by it into DIR, for the TLS tests and for
# trying amqps:// and HTTPS locally (never for production):
#   ca.pem, ca-key.pem               the test CA
#   server.pem, server-key.pem       a server certificate for DNS:localhost (the broker's and the HTTPS listener's)
#   client.pem, client-key.pem       a client certificate (mutual TLS)
#   other-ca.pem, other-server.pem, other-server-key.pem   an unrelated CA and a localhost certificate it signed
#
#   bash scripts/make-test-certs.sh DIR
set -euo pipefail
dir=${1:?usage: make-test-certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
days=30
ca() {  # name subject
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1-key.pem" -out "$1.pem" -days "$days" -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2> /dev/null
}
leaf() {  # name ca subject extensions
  openssl req -newkey rsa:2048 -nodes -keyout "$1-key.pem" -out "$1.csr" -subj "/CN=$3" 2> /dev/null
  printf '%s\n' "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2-key.pem" -CAcreateserial -out "$1.pem" -days "$days" \
    -extfile "$1.ext" 2> /dev/null
  rm -f "$1.csr" "$1.ext"
}
ca ca "logpipe test CA"
leaf server ca localhost "subjectAltName=DNS:localhost
extendedKeyUsage=serverAuth"
leaf client ca "logpipe test client" "extendedKeyUsage=clientAuth"
ca other-ca "an unrelated CA"
leaf other-server other-ca localhost "subjectAltName=DNS:localhost
extendedKeyUsage=serverAuth"
chmod 644 ./*.pem
echo "test certificates in $dir"
