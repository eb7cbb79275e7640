#!/usr/bin/env bash
# ripcord diff beside reladiff 0.6.0, in the same run, on two copies of the shared
# realistic invoice table that differ in ~150 keys (money +0.01, deletes, one Arabic name
# changed by one letter); then PostgreSQL against a MariaDB copy of the same rows.
#   bench/diff.sh [ROWS]      (default $ROWS or 200000; ROWS=2000000 for the issue's figure)
# reladiff: pip install --target DIR reladiff==0.6.0 psycopg2-binary mysql-connector-python,
# then RELADIFF_PY=DIR (default /tmp/reladiff_py). Fails if the two tools disagree on keys.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-${ROWS:-200000}}
SHARED=${SHARED:-../shared/bench}
export RELADIFF_PY=${RELADIFF_PY:-/tmp/reladiff_py}
A=ripcord_diffbench_a; B=ripcord_diffbench_b; MY=ripcord_diffbench_my
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export TMPDIR=$WORK
cargo build --release -q -p ripcord
RC=$PWD/target/release/ripcord
PSQL="psql -X -q -h 127.0.0.1 -U postgres"
PG=postgres://postgres@127.0.0.1:5432
now() { date +%s.%N; }
secs() { python3 -c "print(round($2 - $1, 3))"; }

echo "== $N rows"
$PSQL -d postgres -c "drop database if exists $A with (force)" -c "drop database if exists $B with (force)" -c "create database $A" >/dev/null
$PSQL -d $A -v n=$N -f "$SHARED/realistic_pg.sql" >/dev/null
$PSQL -d postgres -c "create database $B template $A" >/dev/null
# ~150 differing keys spread over the whole key range.
$PSQL -d $B >/dev/null <<SQL
update invoice set net = net + 0.01 where id in (select (g * ($N / 101))::bigint from generate_series(1, 100) g);
delete from invoice where id in (select (g * ($N / 50) + 7)::bigint from generate_series(1, 49) g);
update invoice set customer_name = replace(customer_name, 'الحارثي', 'الحارثى')
 where id = (select min(id) from invoice where id >= $N / 2 and id % 3 = 0);
vacuum analyze invoice;
SQL

keys_ripcord() { python3 -c "
import json,sys
o=json.load(open(sys.argv[1]))
ks=set()
for t in o['tables']:
    for k in t['missing_in_a']+t['missing_in_b']: ks.add(k[0])
    for c in t['changed']+t['within_tolerance']: ks.add(c['key'][0])
print('\n'.join(sorted(ks, key=int)))" "$1"; }

s=$(now)
set +e; "$RC" diff "$PG/$A" "$PG/$B" --table invoice --json > "$WORK/ripcord.json"; rc=$?; set -e
RIPCORD_S=$(secs "$s" "$(now)")
[ "$rc" = 3 ] || { echo "ripcord diff exited $rc, expected 3 (differences)"; exit 1; }
keys_ripcord "$WORK/ripcord.json" > "$WORK/ripcord.keys"

"$SHARED/anchor_reladiff.sh" $A $B invoice | tee "$WORK/reladiff.txt"
RELADIFF_S=$(grep '^reladiff_s:' "$WORK/reladiff.txt" | awk '{print $2}')
# reladiff prints "- (id, …)" / "+ (id, …)" lines; the key is the first field.
python3 -c "
import re,sys
ks=set()
for line in open(sys.argv[1]):
    m=re.match(r\"^[-+] \(?'?(\d+)'?,\", line.strip())
    if m: ks.add(m.group(1))
print('\n'.join(sorted(ks, key=int)))" "$WORK/reladiff_out.txt" > "$WORK/reladiff.keys"

echo "ripcord_s: $RIPCORD_S"
echo "reladiff_s: $RELADIFF_S"
echo "differing keys: ripcord $(wc -l < "$WORK/ripcord.keys"), reladiff $(wc -l < "$WORK/reladiff.keys")"
if ! diff -q "$WORK/ripcord.keys" "$WORK/reladiff.keys" >/dev/null; then
  echo "DIFFERENT key sets:"; diff "$WORK/ripcord.keys" "$WORK/reladiff.keys" | head -20; exit 1
fi
echo "same set of differing keys"
python3 -c "print('ripcord is', round($RELADIFF_S / $RIPCORD_S, 2), 'x faster than reladiff (target >= 4)')"
python3 -c "
import json
t=json.load(open('$WORK/ripcord.json'))['tables'][0]
print('ripcord: missing in B', len(t['missing_in_b']), '| changed', len(t['changed']), '| within tolerance', len(t['within_tolerance']), '| rows downloaded', t['stats']['rows_downloaded'], '| queries', t['stats']['queries'])"

if [ "${ONLY:-}" != pg ]; then
  echo "== PostgreSQL ($B) vs MariaDB (the same rows as $A)"
  "$SHARED/realistic_mysql.sh" $A $MY
  # The shared loader writes NULL customer names as the two characters \N (psql's text
  # COPY escapes the backslash); ripcord reports exactly that (NULL vs text), so put the
  # NULLs back before timing the same differences as above.
  mariadb "$MY" -e "update invoice set customer_name = NULL where customer_name = '\\\\N'"
  s=$(now)
  set +e; "$RC" diff "$PG/$B" "mysql://root@127.0.0.1:3306/$MY" --table invoice --json > "$WORK/cross.json"; rc=$?; set -e
  CROSS_S=$(secs "$s" "$(now)")
  [ "$rc" = 3 ] || { echo "cross-engine diff exited $rc, expected 3"; exit 1; }
  keys_ripcord "$WORK/cross.json" > "$WORK/cross.keys"
  echo "ripcord_pg_vs_mariadb_s: $CROSS_S"
  if diff -q "$WORK/cross.keys" "$WORK/ripcord.keys" >/dev/null; then
    echo "same set of differing keys as PostgreSQL vs PostgreSQL ($(wc -l < "$WORK/cross.keys"))"
  else
    echo "DIFFERENT key sets across engines:"; diff "$WORK/cross.keys" "$WORK/ripcord.keys" | head; exit 1
  fi
  python3 -c "print('PostgreSQL vs MariaDB takes', round($CROSS_S / $RIPCORD_S, 2), 'x the PostgreSQL-only time; reladiff/cross-engine ratio', round($RELADIFF_S / $CROSS_S, 2))"
  mariadb -e "drop database if exists $MY"
fi
$PSQL -d postgres -c "drop database if exists $A with (force)" -c "drop database if exists $B with (force)" >/dev/null
