#!/usr/bin/env bash
# Memory and time of the proof against a checkpoint (issue #10, finding 9), PostgreSQL.
#   bench/verify_memory.sh [ROWS ...]      (default 2000000; e.g. `2000000 20000000`)
#   RIPCORD=/tmp/ripcord.old bench/verify_memory.sh   (a given binary, not this checkout)
# For each size, on the shared realistic invoice table: peak RSS of
# `ripcord verify --against CHECKPOINT` and of a whole rollback (whose verify phase
# streams the checkpoint the same way), both from `/usr/bin/time -v`, beside the peak RSS
# of pg_dump -Fc of the same table in the same run (a peer that streams too), and the
# rollback's verify / restore phase time ratio from `ripcord report --format json`.
# Targets: peak RSS <= 256 MB at every size; verify / restore <= 0.5.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=("${@:-2000000}")
SHARED=${SHARED:-../shared/bench}
DB=ripcord_bench_verify
WORK=$(mktemp -d)
PSQL="psql -X -q -h 127.0.0.1 -U postgres"
trap '$PSQL -d postgres -c "drop database if exists $DB with (force)" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
[ -x /usr/bin/time ] || { echo "needs GNU time: apt-get install time" >&2; exit 2; }
# RIPCORD=path/to/ripcord measures that binary instead of building this checkout (to
# compare two builds turn about in one period: the machine's load drifts).
if [ -z "${RIPCORD:-}" ]; then cargo build --release -q -p ripcord; fi
RC=${RIPCORD:-$PWD/target/release/ripcord}
mb() { python3 -c "print(round($1 / 1024))"; }                 # KB -> MB
rss() { grep "Maximum resident set size" "$1" | awk '{print $NF}'; }
secs() { grep "Elapsed (wall clock)" "$1" | awk '{print $NF}'; }
cpu() { awk -F': ' '/User time|System time/ {s += $2} END {printf "%.2f", s}' "$1"; }  # ripcord's own, not the server's
phase() { "$RC" --plan "$WORK/ripcord.toml" report --format json | python3 -c "import json,sys; r=json.load(sys.stdin); print([p['seconds'] for p in r['timeline'] if p['phase']=='$1'][0])"; }

cat > "$WORK/ripcord.toml" <<TOML
[project]
state_dir = "$WORK/state"
[databases.db]
url = "postgres://postgres@127.0.0.1:5432/$DB"
[components.inv]
database = "db"
tables = ["invoice"]
TOML

for N in "${SIZES[@]}"; do
  echo "== PostgreSQL, $N rows"
  rm -rf "$WORK/state"
  $PSQL -d postgres -c "drop database if exists $DB with (force)" -c "create database $DB" >/dev/null
  $PSQL -d $DB -v n="$N" -f "$SHARED/realistic_pg.sql" >/dev/null
  echo "table: $($PSQL -d $DB -Atc "select pg_size_pretty(pg_total_relation_size('invoice'))")"
  /usr/bin/time -v pg_dump -h 127.0.0.1 -U postgres -Fc -t invoice -f "$WORK/invoice.fc" $DB 2> "$WORK/t_dump"
  rm -f "$WORK/invoice.fc"
  CP=$("$RC" --plan "$WORK/ripcord.toml" checkpoint -c inv 2>/dev/null)
  # A few business-like changes after the checkpoint, so the comparison has work to show.
  $PSQL -d $DB -c "update invoice set status = 'paid' where id % 100000 = 7" >/dev/null
  /usr/bin/time -v "$RC" --plan "$WORK/ripcord.toml" verify -c inv --against "$CP" --json \
    > "$WORK/verify.json" 2> "$WORK/t_verify" || true
  CHANGED=$(python3 -c "import json; d=json.load(open('$WORK/verify.json')); t=d['tables'][0]; print(len(t['changed']), t['stats']['rows_held_peak'])")
  /usr/bin/time -v "$RC" --plan "$WORK/ripcord.toml" rollback -c inv --to "$CP" --yes --reason bench \
    > /dev/null 2> "$WORK/t_rollback"
  RESTORE=$(phase restore); VERIFY=$(phase verify)
  HELD=$("$RC" --plan "$WORK/ripcord.toml" report --format json | python3 -c "import json,sys; print(json.load(sys.stdin)['proof']['tables'][0]['rows_held_peak'])")
  echo "pg_dump_Fc: peak RSS $(mb "$(rss "$WORK/t_dump")") MB, $(secs "$WORK/t_dump")"
  echo "ripcord_verify_against_checkpoint: peak RSS $(mb "$(rss "$WORK/t_verify")") MB, $(secs "$WORK/t_verify"), client CPU $(cpu "$WORK/t_verify") s; changed rows found / checkpoint rows held at most: $CHANGED (target <= 256 MB)"
  echo "ripcord_rollback: peak RSS $(mb "$(rss "$WORK/t_rollback")") MB, $(secs "$WORK/t_rollback"); checkpoint rows held at most in its proof: $HELD (target <= 256 MB)"
  echo "rollback phases: restore ${RESTORE}s, verify ${VERIFY}s"
  echo "ratio verify / restore: $(python3 -c "print(round($VERIFY / $RESTORE, 2))") (target <= 0.5)"
done
