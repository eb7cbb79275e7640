#!/usr/bin/env bash
# Capture overhead on PostgreSQL: pgbench (TPC-B-like, write-heavy) TPS without capture,
# with ripcord's capture (installed by `ripcord capture start`), and with the classic jsonb
# audit trigger of ../shared/bench/capture_overhead_pg.sh, in the same run on the same
# tables. Rounds alternate the three setups so drift on a shared machine hits all of them;
# the median of each is reported, with the ratios to the no-capture median.
#
#   bench/capture_overhead.sh [SCALE=10] [SECONDS=20] [ROUNDS=3] [CLIENTS=4]
set -euo pipefail
cd "$(dirname "$0")/.."
S=${1:-10}
T=${2:-20}
R=${3:-3}
C=${4:-4}
DB=ripcord_capbench_$$
PG="psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres"
WORK=$(mktemp -d)
cleanup() {
  $PG -d postgres -c "drop database if exists $DB with (force)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cargo build -q -p ripcord
RIPCORD=$PWD/target/debug/ripcord

$PG -d postgres -c "create database $DB" >/dev/null
pgbench -h 127.0.0.1 -U postgres -i -s "$S" -q "$DB" >/dev/null 2>&1
# ripcord addresses rows by primary key; pgbench_history has none. Every setup below runs
# on this same table, so the key costs all three the same.
$PG -d "$DB" -c "alter table pgbench_history add column hid bigserial primary key"

cat >"$WORK/ripcord.toml" <<EOF
[databases.bench]
url = "postgres://postgres@127.0.0.1:5432/$DB"

[components.pgbench]
database = "bench"
tables = ["pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history"]
priority = "optional"
rto = "60m"
EOF
rip() { (cd "$WORK" && RIPCORD_ACTOR=bench "$RIPCORD" "$@" >/dev/null 2>&1); }

# The classic trigger, verbatim from the shared anchor script.
$PG -d "$DB" <<'SQL'
create table journal(seq bigserial primary key, txid bigint not null default txid_current(), ts timestamptz not null default clock_timestamp(),
  tbl text not null, op char(1) not null, old jsonb, new jsonb);
create or replace function capture() returns trigger language plpgsql as $$
begin
  insert into journal(tbl, op, old, new) values (TG_TABLE_NAME, left(TG_OP,1),
    case when TG_OP <> 'INSERT' then to_jsonb(OLD) end, case when TG_OP <> 'DELETE' then to_jsonb(NEW) end);
  return null;
end $$;
SQL
classic() {
  for t in pgbench_accounts pgbench_tellers pgbench_branches pgbench_history; do
    $PG -d "$DB" -c "$1 trigger c $2 on $t $3"
  done
}

tps() {
  $PG -d "$DB" -c "checkpoint" -c "vacuum pgbench_branches, pgbench_tellers"
  pgbench -h 127.0.0.1 -U postgres -c "$C" -j 2 -T "$T" "$DB" 2>/dev/null | awk '/^tps/ {print $3}'
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

: >"$WORK/base" ; : >"$WORK/ripcord" ; : >"$WORK/classic"
for round in $(seq 1 "$R"); do
  tps >>"$WORK/base"

  rip capture start -c pgbench
  tps >>"$WORK/ripcord"
  journal_ripcord=$($PG -d "$DB" -tAc "select count(*) from ripcord._ripcord_journal")
  rip capture stop -c pgbench
  $PG -d "$DB" -c "truncate ripcord._ripcord_journal"

  classic create "after insert or update or delete" "for each row execute function capture()"
  tps >>"$WORK/classic"
  journal_classic=$($PG -d "$DB" -tAc "select count(*) from journal")
  classic drop "" ""
  $PG -d "$DB" -c "truncate journal"
  echo "round $round: base $(tail -1 "$WORK/base") ripcord $(tail -1 "$WORK/ripcord") ($journal_ripcord journal rows) classic $(tail -1 "$WORK/classic") ($journal_classic journal rows)" >&2
done

base=$(median <"$WORK/base")
ripcord=$(median <"$WORK/ripcord")
classic=$(median <"$WORK/classic")
echo "pgbench scale $S, $C clients, ${T}s per run, $R rounds (median TPS)"
echo "tps_no_capture: $base"
echo "tps_ripcord_capture: $ripcord"
echo "tps_classic_jsonb_trigger: $classic"
echo "ratio_ripcord_over_base: $(echo "scale=3; $ripcord / $base" | bc)"
echo "ratio_classic_over_base: $(echo "scale=3; $classic / $base" | bc)"
