#!/usr/bin/env bash
# Switch-based rollback (sync caught up) beside the restore-based rollback of the same data,
# on PostgreSQL, in the same run.
#   bench/switch_rollback.sh [ROWS ...]        (default: 200000; e.g. 200000 2000000)
# For each size: two pairs of databases (legacy, new) holding the same ROWS-row table and
# the same plan (legacy checkpointed there, business writes captured on the new side).
#   restore path: checkpoint, 1000 business writes on the new side, `rollback` (restore +
#                 replay + proof);
#   switch path:  `cutover`, the same 1000 writes, `sync start --once` (caught up),
#                 `rollback` (freeze, drain, verify both sides, flip, unfreeze).
# Prints each rollback's total from its report and the ratio; the issue's target for the
# switch path is <= 10 s whatever the size.
# RIPCORD_BIN=path uses that binary instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=("${@:-200000}")
WORK=$(mktemp -d)
PSQL="psql -X -q -h 127.0.0.1 -U postgres"
DBS=()
cleanup() {
  for d in "${DBS[@]}"; do $PSQL -d postgres -c "drop database if exists $d with (force)" >/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
if [ -n "${RIPCORD_BIN:-}" ]; then
  RC=$(realpath "$RIPCORD_BIN")
else
  cargo build --release -q -p ripcord
  RC=$PWD/target/release/ripcord
fi
total() { "$RC" --plan "$1" report --format json | python3 -c "import json,sys; r=json.load(sys.stdin); print(round(r['total_seconds'], 3))"; }
field() { "$RC" --plan "$1" report --format json | python3 -c "import json,sys; r=json.load(sys.stdin); print($2)"; }

setup() { # DB ROWS
  $PSQL -d postgres -c "drop database if exists $1 with (force)" -c "create database $1" >/dev/null
  DBS+=("$1")
  $PSQL -d "$1" >/dev/null <<SQL
create table orders (id bigint primary key, customer int not null, amount numeric(12,2) not null,
                     status text not null, note text);
insert into orders select g, g % 5000, (g % 100000) / 100.0, 'open', 'order ' || g
  from generate_series(1, $2) g;
analyze orders;
SQL
}

plan() { # DIR LEGACY_DB NEW_DB
  mkdir -p "$1"
  cat > "$1/ripcord.toml" <<TOML
[project]
state_dir = "$1/state"
[databases.legacy]
url = "postgres://postgres@127.0.0.1:5432/$2"
[databases.new]
url = "postgres://postgres@127.0.0.1:5432/$3"
[components.orders]
database = "legacy"
capture_database = "new"
tables = ["orders"]
priority = "critical"
[switches.orders_route]
component = "orders"
kind = "file"
path = "$1/flags/orders_v2"
TOML
}

business() { # NEW_DB: 500 updates and 500 inserts, as business writes
  $PSQL -d "$1" >/dev/null <<SQL
update orders set status = 'paid' where id <= 500;
insert into orders select 100000000 + g, g, g, 'new', 'after cutover' from generate_series(1, 500) g;
SQL
}

for N in "${SIZES[@]}"; do
  echo "== PostgreSQL, $N rows"
  R=ripcord_bench_sw_r_$$; S=ripcord_bench_sw_s_$$
  for d in ${R}_legacy ${R}_new ${S}_legacy ${S}_new; do setup "$d" "$N"; done

  plan "$WORK/restore_$N" ${R}_legacy ${R}_new
  P="$WORK/restore_$N/ripcord.toml"
  "$RC" -q --plan "$P" checkpoint -c orders >/dev/null
  business ${R}_new
  "$RC" -q --plan "$P" rollback -c orders --yes --reason bench >"$WORK/rollback.log" 2>&1 || { cat "$WORK/rollback.log"; exit 1; }
  RESTORE_TOTAL=$(total "$P")
  RESTORE_LOST=$(field "$P" "r['figures']['lost']")
  RESTORE_AT_RISK=$(field "$P" "r['figures']['at_risk']")

  plan "$WORK/switch_$N" ${S}_legacy ${S}_new
  P="$WORK/switch_$N/ripcord.toml"
  "$RC" -q --plan "$P" capture start -c orders >/dev/null
  t0=$(date +%s.%N)
  "$RC" -q --plan "$P" cutover -c orders --reason bench >/dev/null
  CUTOVER=$(python3 -c "print(round($(date +%s.%N) - $t0, 3))")
  business ${S}_new
  "$RC" -q --plan "$P" sync start --once >/dev/null
  "$RC" -q --plan "$P" rollback -c orders --yes --reason bench >"$WORK/rollback.log" 2>&1 || { cat "$WORK/rollback.log"; exit 1; }
  SWITCH_TOTAL=$(total "$P")
  SWITCH_LOST=$(field "$P" "r['figures']['lost']")
  SWITCH_AT_RISK=$(field "$P" "r['figures']['at_risk']")
  SWITCH_VERIFY=$(field "$P" "[p['seconds'] for p in r['timeline'] if p['phase']=='verify'][0]")

  echo "restore_rollback_s: $RESTORE_TOTAL (at risk $RESTORE_AT_RISK, lost $RESTORE_LOST)"
  echo "switch_rollback_s: $SWITCH_TOTAL (at risk $SWITCH_AT_RISK, lost $SWITCH_LOST; verify ${SWITCH_VERIFY}s) (target <= 10)"
  echo "cutover_s: $CUTOVER"
  echo "ratio switch / restore: $(python3 -c "print(round($SWITCH_TOTAL / $RESTORE_TOTAL, 3))")"
  for d in ${R}_legacy ${R}_new ${S}_legacy ${S}_new; do
    $PSQL -d postgres -c "drop database if exists $d with (force)" >/dev/null
  done
  DBS=()
done
