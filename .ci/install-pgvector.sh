#!/usr/bin/env bash
# PostgreSQL 15 and pgvector for the postgres engine's tests (test/search-postgres.test.ts
# starts its own server with these binaries). Debian 12 has no pgvector binary package, so
# this builds Debian's own source package from trixie (0.8.0) against postgresql-server-dev-15:
# a deb-src entry in a private list file (deb-src only: no binary package comes from trixie),
# apt-get source, make, make install. Measured on the dev machine: ~20 s for apt, ~12 s to build.
# Any failure exits non-zero and the caller carries on: the tests then run on PGlite
# (PostgreSQL in WASM, from npm) instead of a real server.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
list=/etc/apt/sources.list.d/selfsup-pgvector-src.list
work=$(mktemp -d)
trap 'rm -rf "$work" "$list"' EXIT

apt-get update
apt-get install -y --no-install-recommends postgresql-15 postgresql-server-dev-15 dpkg-dev make gcc
pg_config=/usr/lib/postgresql/15/bin/pg_config
if [ -f "$($pg_config --sharedir)/extension/vector.control" ]; then
  echo "pgvector already installed for PostgreSQL 15"
  exit 0
fi
echo 'deb-src http://deb.debian.org/debian trixie main' > "$list"
# Only the private list: the machine's other sources are updated above.
apt-get update -o Dir::Etc::sourcelist="$list" -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0
cd "$work"
apt-get source pgvector
cd pgvector-*/
make PG_CONFIG="$pg_config" -j"$(nproc)"
make PG_CONFIG="$pg_config" install
echo "pgvector $(grep default_version vector.control | cut -d"'" -f2) installed for PostgreSQL 15"
