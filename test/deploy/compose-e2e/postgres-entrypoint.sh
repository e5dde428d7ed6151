#!/bin/sh
# The official postgres image's settings on Debian's package, for the compose end-to-end test:
# on first start, a cluster in $PGDATA whose superuser is $POSTGRES_USER with
# $POSTGRES_PASSWORD (scram-sha-256 over the network), and the database $POSTGRES_DB; then the
# server in the foreground as the postgres user.
set -e
bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
export PATH="$bin:$PATH"
user="${POSTGRES_USER:-postgres}"
db="${POSTGRES_DB:-$user}"
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
mkdir -p "$PGDATA" /run/postgresql
chown -R postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pw="$(mktemp)"
  printf '%s\n' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" >"$pw"
  chown postgres "$pw"
  as_pg initdb -D "$PGDATA" -U "$user" --pwfile="$pw" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pw"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  if [ "$db" != postgres ]; then
    echo "CREATE DATABASE \"$db\"" | as_pg postgres --single -D "$PGDATA" postgres >/dev/null
  fi
fi
if [ "$1" = postgres ]; then
  shift
  exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" "$@"
fi
exec "$@"
