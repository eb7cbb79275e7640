#!/usr/bin/env bash
# ripcord beside the peers, in the same run, on the shared realistic invoice table.
#   bench/engines.sh [ROWS]        (default 2000000; try 200000 for a quick look)
# Prints each figure and the ratios the engines issue asks for:
#   checkpoint / pg_dump -Fc, checkpoint / COPY binary out, incremental (1% changed) / full,
#   restore / pg_restore, MariaDB checkpoint / mysqldump, restore / mysql < dump, replay rows/s.
# ONLY=pg skips MariaDB.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000000}
SHARED=${SHARED:-../shared/bench}
PGDB=ripcord_bench_pg; MYDB=ripcord_bench_my
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cargo build --release -q -p ripcord
RC=$PWD/target/release/ripcord
PSQL="psql -X -q -h 127.0.0.1 -U postgres"
now() { date +%s.%N; }
secs() { python3 -c "print(round($2 - $1, 3))"; }
ratio() { python3 -c "print(round($1 / $2, 2))"; }
phase() { "$RC" --plan "$1" report --format json | python3 -c "import json,sys; r=json.load(sys.stdin); print([p['seconds'] for p in r['timeline'] if p['phase']=='$2'][0])"; }

plan() { # URL FILE
  cat > "$2" <<TOML
[project]
state_dir = "$(dirname "$2")/state"
[databases.db]
url = "$1"
[components.inv]
database = "db"
tables = ["invoice"]
TOML
}

echo "== PostgreSQL, $N rows"
$PSQL -d postgres -c "drop database if exists $PGDB with (force)" -c "create database $PGDB"
$PSQL -d $PGDB -v n=$N -f "$SHARED/realistic_pg.sql" >/dev/null
# The peers' figures (the same commands as $SHARED/anchors_table_pg.sh).
t() { local s; s=$(now); "$@" >/dev/null 2>&1; secs "$s" "$(now)"; }
{
  echo "copy_out_binary_s: $(t $PSQL -d $PGDB -c "\\copy invoice to /dev/null with (format binary)")"
  echo "pg_dump_Fc_s: $(t pg_dump -h 127.0.0.1 -U postgres -Fc -t invoice -f "$WORK/invoice.fc" $PGDB)"
  $PSQL -d postgres -c "drop database if exists ${PGDB}_r" -c "create database ${PGDB}_r" >/dev/null
  echo "pg_restore_Fc_s: $(t pg_restore -h 127.0.0.1 -U postgres -d ${PGDB}_r "$WORK/invoice.fc")"
} | tee "$WORK/pg_anchor.txt"
get() { grep "^$1:" "$2" | awk '{print $2}'; }
mkdir -p "$WORK/pg"; plan "postgres://postgres@127.0.0.1:5432/$PGDB" "$WORK/pg/ripcord.toml"
t0=$(now); "$RC" --plan "$WORK/pg/ripcord.toml" checkpoint -c inv > "$WORK/cp1"; t1=$(now)
CP_FULL=$(secs $t0 $t1)
$PSQL -d $PGDB -c "update invoice set status = 'paid' where id % 100 = 0" >/dev/null
t0=$(now); "$RC" --plan "$WORK/pg/ripcord.toml" checkpoint -c inv > "$WORK/cp2"; t1=$(now)
CP_INCR=$(secs $t0 $t1)
"$RC" --plan "$WORK/pg/ripcord.toml" rollback -c inv --to "$(cat "$WORK/cp1")" --yes --reason bench >/dev/null
RESTORE=$(phase "$WORK/pg/ripcord.toml" restore)
REPLAY=$(phase "$WORK/pg/ripcord.toml" replay)
REPLAYED=$("$RC" --plan "$WORK/pg/ripcord.toml" report --format json | python3 -c "import json,sys; print(json.load(sys.stdin)['figures']['at_risk'])")
echo "ripcord_checkpoint_s: $CP_FULL"
echo "ripcord_incremental_checkpoint_s: $CP_INCR"
echo "ripcord_restore_s: $RESTORE"
echo "ripcord_replay: $REPLAYED rows in ${REPLAY}s = $(python3 -c "print(round($REPLAYED / max($REPLAY, 1e-9)))") rows/s (target >= 20000)"
echo "ratio checkpoint / pg_dump -Fc: $(ratio $CP_FULL $(get pg_dump_Fc_s "$WORK/pg_anchor.txt")) (target <= 0.5)"
echo "ratio checkpoint / COPY binary out: $(ratio $CP_FULL $(get copy_out_binary_s "$WORK/pg_anchor.txt")) (target <= 1.5)"
echo "ratio incremental / full checkpoint: $(ratio $CP_INCR $CP_FULL) (target <= 0.2)"
echo "ratio restore / pg_restore: $(ratio $RESTORE $(get pg_restore_Fc_s "$WORK/pg_anchor.txt")) (target <= 0.8)"

cleanup() {
  $PSQL -d postgres -c "drop database if exists $PGDB with (force)" -c "drop database if exists ${PGDB}_r with (force)" >/dev/null
  mariadb -e "drop database if exists $MYDB; drop database if exists ${MYDB}_r"
}
if [ "${ONLY:-}" = pg ]; then cleanup; exit 0; fi

echo "== MariaDB, $N rows"
bash "$SHARED/realistic_mysql.sh" $PGDB $MYDB
# The peers' figures (the same commands as $SHARED/anchors_table_mysql.sh).
{
  echo "select_all_s: $(t mariadb --quick -N -e "select * from $MYDB.invoice")"
  echo "mysqldump_s: $(t sh -c "mysqldump --single-transaction --quick $MYDB invoice > $WORK/invoice.sql")"
  mariadb -e "drop database if exists ${MYDB}_r; create database ${MYDB}_r"
  echo "mysql_restore_s: $(t sh -c "mariadb ${MYDB}_r < $WORK/invoice.sql")"
} | tee "$WORK/my_anchor.txt"
mkdir -p "$WORK/my"; plan "mysql://root@127.0.0.1:3306/$MYDB" "$WORK/my/ripcord.toml"
t0=$(now); "$RC" --plan "$WORK/my/ripcord.toml" checkpoint -c inv > "$WORK/mcp1"; t1=$(now)
MCP=$(secs $t0 $t1)
"$RC" --plan "$WORK/my/ripcord.toml" rollback -c inv --yes --reason bench >/dev/null
MRESTORE=$(phase "$WORK/my/ripcord.toml" restore)
echo "ripcord_checkpoint_s: $MCP"
echo "ripcord_restore_s: $MRESTORE"
echo "ratio checkpoint / mysqldump: $(ratio $MCP $(get mysqldump_s "$WORK/my_anchor.txt")) (target <= 1.0)"
echo "ratio restore / mysql < dump: $(ratio $MRESTORE $(get mysql_restore_s "$WORK/my_anchor.txt")) (target <= 0.6)"
cleanup
