#!/bin/sh
# First start of the PostgreSQL container only (docker-entrypoint-initdb.d): the roles and the
# database the application expects, as libs/database/src/provision.ts sets them up for the embedded
# server. The schema owner runs migrations; the application logs in as a member of the
# beecastle_app group, which owns nothing and cannot bypass row-level security.
set -eu
: "${BEECASTLE_OWNER_PASSWORD:?set BEECASTLE_OWNER_PASSWORD}"
: "${BEECASTLE_APP_PASSWORD:?set BEECASTLE_APP_PASSWORD}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v owner_password="$BEECASTLE_OWNER_PASSWORD" \
  -v app_password="$BEECASTLE_APP_PASSWORD" <<'SQL'
CREATE ROLE beecastle_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS
  PASSWORD :'owner_password';
CREATE ROLE beecastle_app NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
CREATE ROLE beecastle_app_login LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS
  IN ROLE beecastle_app PASSWORD :'app_password';
CREATE DATABASE beecastle OWNER beecastle_owner ENCODING 'UTF8' TEMPLATE template0;
\connect beecastle
REVOKE ALL ON DATABASE beecastle FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE beecastle TO beecastle_app;
ALTER SCHEMA public OWNER TO beecastle_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO beecastle_app;
SQL
