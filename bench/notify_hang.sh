#!/usr/bin/env bash
# Does a dead notification channel slow a rollback? N rollbacks (default 5) of a SQLite
# component of ROWS rows (default 100000, 2000 business updates after the checkpoint each
# time), first with no notifier, then with `ripcord notify run` beside them sending every
# message to an e-mail server and an Alertmanager receiver that accept the connection and
# never answer (each attempt waits out the channel's 5 s timeout).
#   bench/notify_hang.sh [N] [ROWS]     PROFILE=debug uses the debug binary as it is.
# Prints the median and worst `took_seconds` of the rollbacks (ripcord's own figure, from
# `ripcord rollbacks --json`) without and with the hanging notifier, and how many delivery
# attempts the notifier recorded as failed meanwhile (it was busy, not idle).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5}
ROWS=${2:-100000}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then nice -n 19 cargo build --release -q -p ripcord; fi
RC=$PWD/target/$PROFILE/ripcord
echo "binary: $RC"

# A TCP server that accepts and never answers.
python3 - "$WORK/port" <<'PY' &
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(100)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
held = []
while True:
    c, _ = s.accept(); held.append(c)
PY
PIDS+=($!)
until [ -s "$WORK/port" ]; do sleep 0.05; done
PORT=$(cat "$WORK/port")

setup() { # DIR NOTIFY(0|1)
  mkdir -p "$1"
  sqlite3 "$1/app.db" "PRAGMA journal_mode=WAL;
    CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL, note TEXT);
    WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < $ROWS)
    INSERT INTO accounts SELECT i, i * 10, 'account ' || i FROM g;" >/dev/null
  cat > "$1/ripcord.toml" <<TOML
[databases.app]
url = "sqlite:app.db"
[components.accounts]
database = "app"
tables = ["accounts"]
TOML
  if [ "$2" = 1 ]; then cat >> "$1/ripcord.toml" <<TOML
[notify]
retry_after = "1s"
poll = "200ms"
[notify.channels.mail]
kind = "smtp"
host = "127.0.0.1"
port = $PORT
security = "none"
from = "ripcord@example.com"
timeout = "5s"
[notify.channels.alerts]
kind = "webhook"
url = "http://127.0.0.1:$PORT/alerts"
timeout = "5s"
[[notify.levels]]
repeat = "1s"
recipients = [
  { name = "a", channel = "mail", address = "a@example.com" },
  { name = "b", language = "ar", channel = "mail", address = "b@example.com" },
  { name = "noc", channel = "alerts" },
]
TOML
  fi
}

rollbacks() { # DIR
  for i in $(seq 1 "$N"); do
    (cd "$1" && "$RC" -q checkpoint >/dev/null 2>&1)
    sqlite3 "$1/app.db" "PRAGMA busy_timeout=30000; UPDATE accounts SET balance = balance + $i WHERE id % 50 = 0;" >/dev/null
    (cd "$1" && "$RC" -q rollback --yes --reason "bench $i" >/dev/null 2>&1)
  done
  (cd "$1" && "$RC" rollbacks --json) | python3 -c '
import json, statistics, sys
t = sorted(r["took_seconds"] for r in json.load(sys.stdin))
print(f"{statistics.median(t):.3f} {t[-1]:.3f} {len(t)}")'
}

setup "$WORK/plain" 0
read -r MED0 MAX0 C0 < <(rollbacks "$WORK/plain")

setup "$WORK/notified" 1
(cd "$WORK/notified" && "$RC" -q notify run --once >/dev/null)
(cd "$WORK/notified" && exec "$RC" -q notify run >/dev/null 2>&1) &
PIDS+=($!)
read -r MED1 MAX1 C1 < <(rollbacks "$WORK/notified")
sleep 1
FAILED=$(cd "$WORK/notified" && "$RC" notify status --json | python3 -c '
import json, sys
print(sum(1 for d in json.load(sys.stdin) for a in d["attempts"] if not a["ok"]))')

printf '%-42s %10s %10s %6s\n' "rollback of $ROWS rows, $N times" "median s" "worst s" "count"
printf '%-42s %10s %10s %6s\n' "no notifier" "$MED0" "$MAX0" "$C0"
printf '%-42s %10s %10s %6s\n' "notify run, every channel hanging (5 s)" "$MED1" "$MAX1" "$C1"
echo "failed delivery attempts recorded by the notifier meanwhile: $FAILED"
