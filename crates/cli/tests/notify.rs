//! Notifications with real parts: an SMTP server on loopback (Python's aiosmtpd, installed
//! by this test when missing), an HTTP listener for the Slack and Alertmanager-shaped
//! webhooks, a command channel writing to a file, the real `ripcord` binary. Escalation is
//! timed by a plan whose intervals are seconds.

mod common;
use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---- an SMTP server ----

struct Smtp {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn ensure_aiosmtpd() {
    let have = |_: ()| {
        Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if have(()) {
        return;
    }
    let s = Command::new("python3")
        .args(["-m", "pip", "install", "-q", "aiosmtpd"])
        .status()
        .expect("python3 is needed for the SMTP test server");
    assert!(s.success() && have(()), "cannot install aiosmtpd with pip");
}

impl Smtp {
    fn start(dir: &Path) -> Smtp {
        ensure_aiosmtpd();
        let port = free_port();
        let maildir = dir.join("maildir");
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "aiosmtpd did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Smtp {
            child,
            port,
            maildir,
        }
    }

    /// Every message received, parsed by Python's email package: to, subject, content
    /// type, charset and the decoded body.
    fn mails(&self) -> Vec<Value> {
        let script = r#"
import email, email.policy, json, mailbox, sys
out = []
for m in mailbox.Maildir(sys.argv[1], factory=None, create=False):
    msg = email.message_from_bytes(m.as_bytes(), policy=email.policy.default)
    out.append({"to": str(msg["to"]), "subject": str(msg["subject"]),
                "type": msg.get_content_type(), "charset": msg.get_content_charset(),
                "body": msg.get_content(), "date": str(msg["date"])})
out.sort(key=lambda m: (m["to"], m["subject"]))
print(json.dumps(out))
"#;
        if !self.maildir.exists() {
            return Vec::new();
        }
        let o = Command::new("python3")
            .args(["-c", script])
            .arg(&self.maildir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<Vec<Value>>(&o.stdout).unwrap()
    }

    /// The plan's `[notify.channels.mail]`, sending through this server.
    fn channel(&self) -> String {
        format!(
            "[notify.channels.mail]\nkind = \"smtp\"\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nfrom = \"ripcord <ripcord@example.com>\"\n",
            self.port
        )
    }

    /// The subjects of the mails to `who`.
    fn subjects(&self, who: &str) -> Vec<String> {
        self.to(who)
            .iter()
            .map(|m| m["subject"].as_str().unwrap().to_string())
            .collect()
    }

    /// The first mail to `who` whose subject contains `subject`.
    fn mail(&self, who: &str, subject: &str) -> Value {
        let mails = self.to(who);
        mails
            .iter()
            .find(|m| m["subject"].as_str().unwrap().contains(subject))
            .cloned()
            .unwrap_or_else(|| panic!("no mail to {who} about {subject:?}: {mails:#?}"))
    }

    /// How many reminders (an incident still open, in English or Arabic) `who` received.
    fn reminders(&self, who: &str) -> usize {
        self.to(who)
            .iter()
            .filter(|m| {
                let s = m["subject"].as_str().unwrap();
                s.contains("still open") || s.contains("ما زالت مفتوحة")
            })
            .count()
    }

    fn to(&self, who: &str) -> Vec<Value> {
        self.mails()
            .into_iter()
            .filter(|m| m["to"].as_str().unwrap().contains(who))
            .collect()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The plan's `[notify.channels.sms]`: a command appending each message's address and text
/// to `path` as a JSON line.
fn sms_channel(path: &Path) -> String {
    format!(
        r#"[notify.channels.sms]
kind = "command"
argv = ["python3", "-c", "import json, sys; open(sys.argv[1], 'a').write(json.dumps(sys.argv[2:]) + '\\n')", "{}", "{{address}}", "{{text}}"]
"#,
        path.display()
    )
}

// ---- an HTTP listener ----

#[derive(Clone, Copy)]
enum Answer {
    Ok,
    /// 500 to the first n requests, then 200.
    FailFirst(usize),
    /// Reads the request and never answers.
    Hang,
}

#[derive(Clone)]
struct Http {
    port: u16,
    got: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Http {
    fn start(answer: Answer) -> Http {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        std::thread::spawn(move || {
            let mut seen = 0usize;
            let mut hung = Vec::new();
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let Some((path, body)) = read_request(&mut s) else {
                    continue;
                };
                seen += 1;
                let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
                g.lock().unwrap().push((path, json));
                let status = match answer {
                    Answer::Ok => 200,
                    Answer::FailFirst(n) if seen <= n => 500,
                    Answer::FailFirst(_) => 200,
                    Answer::Hang => {
                        hung.push(s);
                        continue;
                    }
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                );
            }
        });
        Http { port, got }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn bodies(&self, path: &str) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, b)| b.clone())
            .collect()
    }
}

fn read_request(s: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut r = BufReader::new(s.try_clone().ok()?);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut len = 0;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        if h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some((path, body))
}

// ---- the plan ----

struct Setup {
    w: Workshop,
    smtp: Smtp,
    http: Http,
    sms: PathBuf,
}

const SLACK_TOKEN: &str = "T0001/B0002/slack-very-secret-token";

/// The Workshop with a `[notify]` section: e-mail, Slack, an Alertmanager receiver, an SMS
/// command and in-app; three levels whose timings are seconds.
fn setup(levels: &str, http: Answer) -> Setup {
    let w = Workshop::new(30);
    let smtp = Smtp::start(w.path());
    let http = Http::start(http);
    let sms = w.path().join("sms.jsonl");
    let notify = format!(
        r#"
[notify]
retry_after = "1s"
max_attempts = 3

{mail}
[notify.channels.team]
kind = "slack"
url = "{slack}/${{SLACK_TOKEN}}"

[notify.channels.alerts]
kind = "webhook"
url = "{am}"
timeout = "2s"

{sms}max_chars = 160

[notify.channels.app]
kind = "in_app"
{levels}
[notify.users]
recipients = [{{ name = "staff", language = "ar", channel = "app" }}]
"#,
        mail = smtp.channel(),
        slack = http.url("/slack"),
        am = http.url("/alertmanager"),
        sms = sms_channel(&sms),
    );
    let plan = std::fs::read_to_string(w.path().join("ripcord.toml")).unwrap();
    // Without the ignore, a value in the new column is a data gap: the rollback ends with
    // problems and its incident stays open.
    let plan = plan.replace("ignore = [\"discount_baisa\"]", "");
    std::fs::write(w.path().join("ripcord.toml"), format!("{plan}{notify}")).unwrap();
    Setup { w, smtp, http, sms }
}

/// `setup(LEVELS, Answer::Ok)` whose notifier has placed its cursor, then a checkpoint of
/// billing and a rollback of it (a drill) that nothing has been told of yet.
fn drilled() -> Setup {
    let s = setup(LEVELS, Answer::Ok);
    s.notify_once();
    s.ok(&["checkpoint", "-c", "billing"]);
    s.ok(&["rollback", "-c", "billing", "--yes", "--reason", "drill"]);
    s
}

const LEVELS: &str = r#"
[[notify.levels]]
repeat = "3s"
escalate_after = "4s"
recipients = [
  { name = "Huda", language = "ar", channel = "mail", address = "huda@example.com" },
  { name = "Sam", language = "en", channel = "mail", address = "sam@example.com" },
  { name = "ops", channel = "team" },
  { name = "pager", channel = "sms", address = "+15550100" },
]

[[notify.levels]]
delay = "0s"
repeat = "3s"
escalate_after = "6s"
recipients = [{ name = "Mona", language = "ar", channel = "alerts" }]

[[notify.levels]]
delay = "0s"
repeat = "never"
recipients = [{ name = "Chief", language = "en", channel = "mail", address = "chief@example.com" }]
"#;

impl Setup {
    fn ripcord(&self, args: &[&str]) -> std::process::Output {
        self.w.ripcord_env(args, &[("SLACK_TOKEN", SLACK_TOKEN)])
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.ripcord(args);
        assert_eq!(code(&o), 0, "ripcord {args:?}: {}", text(&o));
        text(&o)
    }
    /// `ripcord serve` on a free loopback port, killed when the value drops; its base URL.
    fn serve(&self, extra: &[&str]) -> (Killed, String) {
        let mut serve = Command::new(env!("CARGO_BIN_EXE_ripcord"))
            .current_dir(self.w.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env("SLACK_TOKEN", SLACK_TOKEN)
            .env_remove("RIPCORD_DASHBOARD_TOKENS")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(serve.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("serve said {line:?}"))
            .to_string();
        (Killed(serve), base)
    }
    /// Who acknowledged the first incident, in order.
    fn acks_by(&self) -> Vec<String> {
        self.incidents()[0]["acks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["by"].as_str().unwrap().to_string())
            .collect()
    }
    fn notify_once(&self) -> String {
        self.ok(&["notify", "run", "--once"])
    }
    fn sms(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(&self.sms)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
    fn incidents(&self) -> Vec<Value> {
        serde_json::from_str(&self.ok(&["incidents", "--json"])).unwrap()
    }
    fn outbox(&self) -> Vec<Value> {
        serde_json::from_str(&self.ok(&["notify", "status", "--json"])).unwrap()
    }
    /// A rollback of billing after a write in the migration's new column: it ends with a
    /// data gap, so its incident stays open.
    /// The notifier's cursor placed, a rollback with a gap, the notifier run: the id of
    /// the incident it opened.
    fn notified_of_a_rollback_with_a_gap(&self) -> String {
        self.notify_once();
        self.rollback_with_a_gap();
        self.notify_once();
        self.incidents()[0]["incident"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn rollback_with_a_gap(&self) {
        self.ok(&["run"]);
        self.w
            .db()
            .execute(
                "UPDATE invoices SET discount_baisa = 777, status = 'paid' WHERE id = 3",
                [],
            )
            .unwrap();
        let o = self.ripcord(&[
            "rollback",
            "-c",
            "billing",
            "--yes",
            "--reason",
            "VAT wrong $(touch pwned)",
        ]);
        assert_eq!(code(&o), 3, "{}", text(&o));
    }
}

/// Sleeps until `ms` after the incident opened (its time is the event's, in the log).
fn sleep_until(opened_ms: i64, ms: i64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let wait = opened_ms + ms - now;
    assert!(wait < 6_000, "no sleep longer than a few seconds");
    if wait > 0 {
        std::thread::sleep(Duration::from_millis(wait as u64));
    }
}

const FSI: char = '\u{2068}';
const PDI: char = '\u{2069}';

#[test]
fn level_one_hears_in_english_and_arabic_escalates_and_an_ack_stops_it() {
    let s = setup(LEVELS, Answer::Ok);
    // A first notifier starts at the end of the log: what came before is history.
    assert!(s.notify_once().contains("0 event(s)"));

    s.rollback_with_a_gap();
    s.notify_once();
    let inc = s.incidents();
    assert_eq!(inc.len(), 1, "{inc:#?}");
    let id = inc[0]["incident"]["id"].as_str().unwrap().to_string();
    let t0 = inc[0]["incident"]["opened_ms"].as_i64().unwrap();
    assert_eq!(inc[0]["incident"]["cause"], "rollback");
    assert_eq!(
        inc[0]["incident"]["status"], "open",
        "a rollback with a gap is not resolved"
    );

    // Level 1, each in its language: e-mail in Arabic and English, Slack, SMS.
    let huda = s.smtp.to("huda@");
    let first = huda
        .iter()
        .find(|m| m["subject"].as_str().unwrap().contains("حالة طوارئ"))
        .unwrap_or_else(|| panic!("no Arabic emergency mail: {huda:#?}"));
    assert_eq!(first["type"], "text/plain");
    assert_eq!(first["charset"], "utf-8");
    let body = first["body"].as_str().unwrap();
    assert!(body.contains("تم رصد حالة طوارئ"), "{body}");
    assert!(
        body.contains("عملية استرجاع"),
        "the cause in Arabic: {body}"
    );
    assert!(
        body.contains(&format!("{FSI}{id}{PDI}")),
        "the incident id is isolated from the right-to-left text: {body:?}"
    );
    assert!(body.contains("VAT wrong $(touch pwned)"), "{body}");
    let sam = s.smtp.to("sam@");
    let en = sam
        .iter()
        .find(|m| m["subject"].as_str().unwrap().contains("EMERGENCY"))
        .unwrap_or_else(|| panic!("no English emergency mail: {sam:#?}"));
    let en_body = en["body"].as_str().unwrap();
    assert!(
        en_body.contains("Emergency detected in universal-workshop"),
        "{en_body}"
    );
    assert!(!en_body.contains(FSI), "no marks in English: {en_body:?}");
    // Both also heard of the rollback and how it ended, with its figures.
    let done = sam
        .iter()
        .find(|m| {
            m["subject"]
                .as_str()
                .unwrap()
                .contains("rollback ended with problems")
        })
        .unwrap_or_else(|| panic!("{sam:#?}"));
    assert!(
        done["body"].as_str().unwrap().contains("lost: 1 write"),
        "{}",
        done["body"]
    );
    assert!(
        huda.iter()
            .any(|m| m["body"].as_str().unwrap().contains("عملية واحدة")),
        "Arabic plural for one lost write: {huda:#?}"
    );
    let slack = s.http.bodies(&format!("/slack/{SLACK_TOKEN}"));
    assert!(
        slack
            .iter()
            .any(|b| b["text"].as_str().unwrap().contains("EMERGENCY")),
        "{slack:#?}"
    );
    let sms = s.sms();
    assert!(!sms.is_empty());
    for args in &sms {
        assert_eq!(args[0], "+15550100");
        assert!(args[1].chars().count() <= 160, "{}", args[1]);
    }
    assert!(!s.w.path().join("pwned").exists(), "no shell ran the text");
    assert!(
        s.http.bodies("/alertmanager").is_empty(),
        "level 2 not reached yet"
    );
    assert!(s.smtp.to("chief@").is_empty());

    // Nobody acknowledged: a reminder to level 1, and level 2 reached after 4 s.
    sleep_until(t0, 4_500);
    s.notify_once();
    let am = s.http.bodies("/alertmanager");
    assert_eq!(am.len(), 1, "{am:#?}");
    let a = &am[0];
    assert_eq!(a["version"], "4");
    assert_eq!(a["status"], "firing");
    assert_eq!(a["receiver"], "Mona");
    assert_eq!(a["alerts"][0]["labels"]["incident"], id.as_str());
    assert_eq!(a["alerts"][0]["labels"]["level"], "2");
    assert_eq!(a["alerts"][0]["labels"]["message"], "escalated");
    assert_eq!(a["alerts"][0]["labels"]["language"], "ar");
    assert_eq!(a["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    assert!(
        a["commonAnnotations"]["summary"]
            .as_str()
            .unwrap()
            .contains("تصعيد إلى المستوى"),
        "{a:#}"
    );
    assert!(a["groupKey"].as_str().unwrap().contains(&id));
    assert!(s.smtp.reminders("huda@") >= 1 && s.smtp.reminders("sam@") >= 1);

    // Level 1 and level 2 acknowledge: no more reminders to them, no level 3.
    let o = s.ok(&["ack", &id, "--as", "Huda"]);
    assert!(o.contains("acknowledged at level 1 by Huda"), "{o}");
    s.ok(&["ack", &id, "--as", "Mona"]);
    let again = s.ripcord(&["ack", &id, "--as", "Sam"]);
    assert_eq!(code(&again), 2, "{}", text(&again));
    assert!(
        text(&again).contains("already acknowledged (Huda"),
        "{}",
        text(&again)
    );
    let stranger = s.ripcord(&["ack", &id, "--as", "Nobody"]);
    assert_eq!(code(&stranger), 2);
    assert!(
        text(&stranger).contains("not a recipient"),
        "{}",
        text(&stranger)
    );
    let (l1, l2) = (
        s.smtp.reminders("sam@"),
        s.http.bodies("/alertmanager").len(),
    );
    sleep_until(t0, 10_500);
    s.notify_once();
    assert_eq!(
        s.smtp.reminders("sam@"),
        l1,
        "level 1 acknowledged: no reminder"
    );
    assert_eq!(
        s.http.bodies("/alertmanager").len(),
        l2,
        "level 2 acknowledged"
    );
    assert!(
        s.smtp.to("chief@").is_empty(),
        "no escalation to level 3 after the ack"
    );

    let acks = s.acks_by();
    assert_eq!(acks, ["Huda", "Mona"]);
    let audit = s.ok(&["audit", "export"]);
    assert!(audit.contains("\"action\":\"ack\""), "{audit}");

    // Every delivery recorded with its attempt; the webhook's secret path shown nowhere.
    let outbox = s.outbox();
    assert!(outbox.iter().all(|d| d["status"] == "sent"), "{outbox:#?}");
    assert!(
        outbox
            .iter()
            .all(|d| d["attempts"].as_array().unwrap().len() == 1)
    );
    for shown in [
        serde_json::to_string(&outbox).unwrap(),
        s.ok(&["notify", "status"]),
        s.ok(&["incidents"]),
        audit,
    ] {
        assert!(!shown.contains("slack-very-secret-token"), "{shown}");
    }
}

#[test]
fn a_rollback_that_recovers_everything_sends_resolved_with_its_figures() {
    let s = setup(LEVELS, Answer::Ok);
    s.notify_once();
    s.ok(&["checkpoint", "-c", "billing"]);
    s.w.db()
        .execute("UPDATE invoices SET status = 'paid' WHERE id IN (3, 4)", [])
        .unwrap();
    s.ok(&["rollback", "-c", "billing", "--yes", "--reason", "drill"]);
    s.notify_once();
    let inc = &s.incidents()[0]["incident"];
    assert_eq!(inc["status"], "resolved", "{inc:#}");
    assert_eq!(inc["outcome"]["recovered"], 2);

    let sam = s.smtp.to("sam@");
    let subjects: Vec<&str> = sam.iter().map(|m| m["subject"].as_str().unwrap()).collect();
    for want in [
        "EMERGENCY",
        "rollback started",
        "rollback completed",
        "resolved",
    ] {
        assert!(
            subjects.iter().any(|s| s.contains(want)),
            "{want}: {subjects:?}"
        );
    }
    let resolved = s.smtp.mail("sam@", "resolved");
    let body = resolved["body"].as_str().unwrap();
    assert!(
        body.contains("Writes at risk 2, recovered 2, lost 0"),
        "{body}"
    );
    assert!(
        body.contains("target 900.0 s"),
        "billing's 15-minute target: {body}"
    );
    let ar = s.smtp.mail("huda@", "تم الحل");
    let body = ar["body"].as_str().unwrap();
    assert!(body.contains("المستعادة"), "{body}");
    assert!(
        body.contains(&format!("{FSI}2{PDI}")),
        "numbers isolated: {body:?}"
    );

    // Users (in-app, moderate impact): told when it started and when it was resolved.
    let staff: Vec<Value> = s
        .outbox()
        .into_iter()
        .filter(|d| d["recipient"]["name"] == "staff")
        .collect();
    let stages: Vec<&str> = staff
        .iter()
        .map(|d| d["message"]["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["started", "resolved"]);
    assert!(staff.iter().all(|d| d["status"] == "sent"));
    assert!(
        s.http.bodies("/alertmanager").is_empty(),
        "resolved before level 2"
    );
}

#[test]
fn a_failed_delivery_is_recorded_and_retried_and_a_hanging_channel_never_holds_up_a_rollback() {
    let levels = r#"
[[notify.levels]]
repeat = "never"
recipients = [{ name = "Mona", channel = "alerts" }, { name = "Sam", channel = "mail", address = "sam@example.com" }]
"#;
    // The Alertmanager receiver answers 500 once, then 200.
    let s = setup(levels, Answer::FailFirst(1));
    s.notify_once();
    s.ok(&["checkpoint", "-c", "billing"]);
    s.ok(&["rollback", "-c", "billing", "--yes", "--reason", "drill"]);
    s.notify_once();
    let failed: Vec<Value> = s
        .outbox()
        .into_iter()
        .filter(|d| d["recipient"]["name"] == "Mona")
        .collect();
    let first = &failed[0];
    assert_eq!(first["status"], "pending", "{first:#}");
    let a = &first["attempts"][0];
    assert_eq!(a["ok"], false);
    assert!(
        a["detail"].as_str().unwrap().contains("status 500"),
        "{a:#}"
    );
    // The other channel is not held up by the failing one.
    assert!(!s.smtp.to("sam@").is_empty());
    std::thread::sleep(Duration::from_millis(1200));
    s.notify_once();
    let mona: Vec<Value> = s
        .outbox()
        .into_iter()
        .filter(|d| d["recipient"]["name"] == "Mona")
        .collect();
    let first = &mona[0];
    assert_eq!(
        first["status"], "sent",
        "retried after the backoff: {first:#}"
    );
    assert_eq!(first["attempts"].as_array().unwrap().len(), 2);

    // A receiver that never answers, with a notifier running the whole time: the
    // rollback finishes well and the notifier records a timeout to retry.
    let hang = Http::start(Answer::Hang);
    let plan = std::fs::read_to_string(s.w.path().join("ripcord.toml")).unwrap();
    std::fs::write(
        s.w.path().join("ripcord.toml"),
        plan.replace(&s.http.url("/alertmanager"), &hang.url("/alertmanager")),
    )
    .unwrap();
    let mut notifier = Command::new(env!("CARGO_BIN_EXE_ripcord"))
        .current_dir(s.w.path())
        .env("SLACK_TOKEN", SLACK_TOKEN)
        .args(["notify", "run", "--for", "20s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    s.ok(&["checkpoint", "-c", "billing"]);
    s.w.db()
        .execute("UPDATE invoices SET status = 'void' WHERE id = 5", [])
        .unwrap();
    let o = s.ripcord(&[
        "rollback",
        "-c",
        "billing",
        "--yes",
        "--reason",
        "second drill",
    ]);
    assert_eq!(
        code(&o),
        0,
        "the rollback does not wait for any channel: {}",
        text(&o)
    );
    let t = Instant::now();
    let timed_out = loop {
        let hung: Vec<Value> = s
            .outbox()
            .into_iter()
            .filter(|d| {
                d["recipient"]["name"] == "Mona"
                    && d["attempts"].as_array().is_some_and(|a| !a.is_empty())
                    && d["id"].as_i64() > mona.last().unwrap()["id"].as_i64()
            })
            .collect();
        if let Some(d) = hung.first() {
            break d.clone();
        }
        assert!(t.elapsed() < Duration::from_secs(15), "no attempt recorded");
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = notifier.kill();
    let _ = notifier.wait();
    assert_eq!(timed_out["attempts"][0]["ok"], false, "{timed_out:#}");
    assert_eq!(
        timed_out["status"], "pending",
        "to be retried: {timed_out:#}"
    );
}

#[test]
fn a_kill_between_outbox_and_send_loses_nothing_and_sends_once() {
    let s = drilled();
    let o = s.w.ripcord_env(
        &["notify", "run", "--once"],
        &[
            ("SLACK_TOKEN", SLACK_TOKEN),
            ("RIPCORD_CRASH_AT", "notify:queued"),
        ],
    );
    assert_eq!(o.status.code(), None, "killed: {}", text(&o));
    let queued = s.outbox();
    assert!(!queued.is_empty());
    assert!(queued.iter().all(|d| d["status"] == "pending"));
    assert!(s.smtp.mails().is_empty());
    s.notify_once();
    s.notify_once();
    let sent = s.outbox();
    assert_eq!(sent.len(), queued.len(), "nothing queued twice");
    assert!(sent.iter().all(|d| d["status"] == "sent"), "{sent:#?}");
    let sam = s.smtp.to("sam@");
    let mut subjects: Vec<&str> = sam.iter().map(|m| m["subject"].as_str().unwrap()).collect();
    let n = subjects.len();
    subjects.dedup();
    assert_eq!(subjects.len(), n, "each message once: {subjects:?}");
}

#[test]
fn notify_test_sends_through_each_channel_in_the_language_asked() {
    let s = setup(LEVELS, Answer::Ok);
    let out = s.ok(&["notify", "test"]);
    assert!(!out.contains("FAILED"), "{out}");
    assert!(
        s.smtp.to("chief@")[0]["subject"]
            .as_str()
            .unwrap()
            .contains("test message")
    );
    assert_eq!(
        s.http.bodies("/alertmanager")[0]["alerts"][0]["labels"]["alertname"],
        "RipcordTest"
    );
    assert!(!s.sms().is_empty());
    assert!(out.contains("sent app → staff (ar)"), "{out}");

    s.ok(&["notify", "test", "--channel", "team", "--lang", "ar"]);
    let slack = s.http.bodies(&format!("/slack/{SLACK_TOKEN}"));
    assert!(
        slack.last().unwrap()["text"]
            .as_str()
            .unwrap()
            .contains("رسالة اختبار"),
        "{slack:#?}"
    );
    let o = s.ripcord(&["notify", "test", "--channel", "pigeon"]);
    assert_eq!(code(&o), 2);
    assert!(
        text(&o).contains("no channel named \"pigeon\""),
        "{}",
        text(&o)
    );

    // A channel that refuses: the test says so and exits non-zero.
    let plan = std::fs::read_to_string(s.w.path().join("ripcord.toml")).unwrap();
    std::fs::write(
        s.w.path().join("ripcord.toml"),
        plan.replace(
            &format!("port = {}", s.smtp.port),
            &format!("port = {}", free_port()),
        ),
    )
    .unwrap();
    let o = s.ripcord(&["notify", "test", "--channel", "mail"]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(text(&o).contains("FAILED mail"), "{}", text(&o));
}

#[test]
fn arabic_message_snapshot() {
    use ripcord_core::notify::*;
    let summary = Summary {
        incident: "inc-42".into(),
        plan: "payroll".into(),
        cause: Cause::EmergencyStop,
        reason: "rule: error rate 3x baseline".into(),
        detected_at: "2026-11-29T21:05:01.000Z".into(),
        components: vec!["billing".into(), "customers".into()],
        run: Some("run-1".into()),
    };
    let visible = |s: String| s.replace(FSI, "⟨").replace(PDI, "⟩");
    let mut out = String::new();
    for msg in [
        Message::EmergencyDetected {
            summary: summary.clone(),
            level: 1,
            round: 0,
        },
        Message::LevelChanged {
            plan: "payroll".into(),
            level: ripcord_core::plan::Level::Orange,
            reason: "error rate 2x baseline".into(),
            at: "2026-11-29T21:04:00.000Z".into(),
        },
        Message::Escalated {
            summary: summary.clone(),
            level: 2,
            unacknowledged_seconds: 1800.0,
        },
        Message::Resolved {
            summary: summary.clone(),
            resolved_at: "2026-11-29T21:17:31.000Z".into(),
            duration_seconds: 750.0,
            outcome: Some(RollbackOutcome {
                rollback: "rb-1".into(),
                ok: true,
                seconds: 312.4,
                rto_seconds: 900.0,
                at_risk: 11,
                recovered: 11,
                lost: 0,
            }),
        },
    ] {
        let r = ripcord::messages::render(&Default::default(), &msg, Language::Ar, None);
        out.push_str(&format!(
            "## {}\n{}\n{}\n\n",
            msg.id(),
            visible(r.subject),
            visible(r.text)
        ));
    }
    insta::assert_snapshot!(out);
}

/// The issue's "done when": a guarded run on PostgreSQL goes red, is stopped and rolled
/// back; level 1 hears it in English and Arabic by e-mail, Slack and SMS, and then that it
/// is resolved, with the rollback's figures. The notifier runs in its own process beside the
/// run, as `ripcord notify run` does in production.
#[test]
fn a_guarded_run_that_goes_red_on_postgres_notifies_level_one_and_resolves() {
    let db = payslips_on_postgres();
    let dir = tempfile::tempdir().unwrap();
    let smtp = Smtp::start(dir.path());
    let http = Http::start(Answer::Ok);
    let sms = dir.path().join("sms.jsonl");
    let plan = format!(
        r#"
{payroll}
[notify]
retry_after = "1s"
poll = "200ms"

{mail}
[notify.channels.team]
kind = "slack"
url = "{slack}"

{sms}
[[notify.levels]]
recipients = [
  {{ name = "Huda", language = "ar", channel = "mail", address = "huda@example.com" }},
  {{ name = "Sam", language = "en", channel = "mail", address = "sam@example.com" }},
  {{ name = "ops", channel = "team" }},
  {{ name = "pager", language = "ar", channel = "sms", address = "+96890000000" }},
]
"#,
        payroll = payroll_plan(&db.url, 30),
        mail = smtp.channel(),
        slack = http.url("/slack"),
        sms = sms_channel(&sms),
    );
    std::fs::write(dir.path().join("ripcord.toml"), plan).unwrap();
    let ok = |args: &[&str]| ok_in(dir.path(), args);
    ok(&["baseline"]);
    ok(&["notify", "run", "--once"]);
    let mut notifier = Command::new(env!("CARGO_BIN_EXE_ripcord"))
        .current_dir(dir.path())
        .args(["notify", "run", "--for", "60s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let r = ripcord_in(dir.path(), &["run"], &[]);
    assert_eq!(code(&r), 4, "stopped and rolled back: {}", text(&r));
    let resolved = |m: &Value| {
        let s = m["subject"].as_str().unwrap();
        s.contains("resolved") || s.contains("تم الحل")
    };
    let t = Instant::now();
    while smtp.mails().iter().filter(|m| resolved(m)).count() < 2 {
        assert!(t.elapsed() < Duration::from_secs(90), "{:#?}", smtp.mails());
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = notifier.kill();
    let _ = notifier.wait();

    let incidents: Vec<Value> = serde_json::from_str(&ok(&["incidents", "--json"])).unwrap();
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    let inc = &incidents[0]["incident"];
    assert_eq!(
        inc["cause"], "red_level",
        "the red level came first: {inc:#}"
    );
    assert!(
        inc["reason"]
            .as_str()
            .unwrap()
            .contains("payslips corrupted")
    );
    assert_eq!(inc["status"], "resolved");
    assert_eq!(
        inc["impact"], "significant",
        "data_corruption is high impact"
    );
    assert_eq!(inc["outcome"]["ok"], true);

    let subjects = |who: &str| smtp.subjects(who);
    let sam = subjects("sam@");
    for want in [
        "EMERGENCY",
        "rollback started",
        "rollback completed",
        "resolved",
    ] {
        assert!(sam.iter().any(|s| s.contains(want)), "{want}: {sam:?}");
    }
    let huda = subjects("huda@");
    for want in ["حالة طوارئ", "بدأ الاسترجاع", "اكتمل الاسترجاع", "تم الحل"]
    {
        assert!(huda.iter().any(|s| s.contains(want)), "{want}: {huda:?}");
    }
    let done = smtp.mail("sam@", "rollback completed");
    let body = done["body"].as_str().unwrap();
    assert!(body.contains("within target"), "{body}");
    assert!(body.contains("against a target of 900.0 s"), "{body}");
    let slack = http.bodies("/slack");
    assert!(
        slack
            .iter()
            .any(|b| b["text"].as_str().unwrap().contains("payslips corrupted")),
        "{slack:#?}"
    );
    let texts: Vec<Vec<String>> = std::fs::read_to_string(&sms)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        texts
            .iter()
            .any(|a| a[0] == "+96890000000" && a[1].contains("تم رصد حالة طوارئ")),
        "{texts:?}"
    );
    // The report draws the probe's values before the stop (issue #15), kept by the guard.
    let html = ok(&["report", "--format", "html"]);
    assert!(
        html.contains("aria-label=\"Values of probe payslip_mismatches around the stop")
            && html.contains("<polyline"),
        "{html}"
    );
}

#[test]
fn watch_runs_the_notifier_on_a_thread_of_its_own() {
    let s = drilled();
    assert!(
        s.smtp.mails().is_empty(),
        "nothing sent from the rollback itself"
    );
    let plan = std::fs::read_to_string(s.w.path().join("ripcord.toml")).unwrap();
    let probe = "[[probe]]\nname = \"invoices\"\nkind = \"sql\"\ndatabase = \"workshop\"\nsql = \"SELECT count(*) FROM invoices\"\ninterval = \"500ms\"\n";
    std::fs::write(
        s.w.path().join("ripcord.toml"),
        // The live section only: the example plan also carries a commented `# [notify]`.
        plan.replacen("\n[notify]\n", &format!("\n{probe}\n[notify]\n"), 1),
    )
    .unwrap();
    let o = s.ripcord(&["watch", "--for", "3s"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let subjects = s.smtp.subjects("sam@");
    assert!(
        subjects.iter().any(|s| s.contains("resolved")),
        "{subjects:?}"
    );
}

/// "A plan may override any message": the plan's Fluent wording of `emergency-detected` in
/// English is what Sam's mail says (text and subject); Huda, in Arabic, still gets the
/// built-in one. A mistake in a wording is a plan error at its line and column.
#[test]
fn a_plans_own_wording_is_what_the_mail_says_and_a_bad_one_is_a_plan_error_at_its_place() {
    let wording = r#"
[notify.messages.emergency-detected]
en = """
PAYROLL BRIDGE: call +968 2400 0000 now about { $incident } ({ cause }, { $reason }).
{ ack-hint }
    .subject = [payroll] bridge call: { $incident }
"""
"#;
    let s = setup(&format!("{LEVELS}{wording}"), Answer::Ok);
    let id = s.notified_of_a_rollback_with_a_gap();
    let sam = s.smtp.to("sam@");
    let mail = sam
        .iter()
        .find(|m| m["subject"] == format!("[payroll] bridge call: {id}").as_str())
        .unwrap_or_else(|| panic!("no mail in the plan's wording: {sam:#?}"));
    let body = mail["body"].as_str().unwrap();
    assert!(
        body.starts_with(&format!(
            "PAYROLL BRIDGE: call +968 2400 0000 now about {id} (a rollback, VAT wrong $(touch pwned))."
        )),
        "{body}"
    );
    assert!(
        body.contains(&format!("ripcord ack {id} --as YOUR-NAME")),
        "{body}"
    );
    assert!(
        !sam.iter()
            .any(|m| m["subject"].as_str().unwrap().contains("EMERGENCY")),
        "the built-in English wording is replaced: {sam:#?}"
    );
    let huda = s.smtp.to("huda@");
    assert!(
        huda.iter()
            .any(|m| m["body"].as_str().unwrap().contains("تم رصد حالة طوارئ")),
        "Arabic keeps the built-in wording: {huda:#?}"
    );

    let path = s.w.path().join("ripcord.toml");
    let plan = std::fs::read_to_string(&path).unwrap();
    let bad = plan.replace("{ $reason })", "{ $reason_text })");
    std::fs::write(&path, &bad).unwrap();
    let o = s.ripcord(&["notify", "status"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let at = bad.find("$reason_text").unwrap();
    let line = bad[..at].matches('\n').count() + 1;
    let col = at - bad[..at].rfind('\n').unwrap();
    assert!(
        text(&o).contains("unknown placeholder $reason_text"),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains(&format!("ripcord.toml:{line}:{col}")),
        "at {line}:{col}: {}",
        text(&o)
    );
}

/// One-time links (#14): with `ack_url`, a mail to a level carries a link to the dashboard;
/// its page asks (a GET changes nothing), its POST acknowledges as the mail's recipient,
/// a second use is refused, and the token is kept hashed only.
#[test]
fn the_link_in_a_mail_acknowledges_the_incident_once_as_its_recipient() {
    let s = setup(LEVELS, Answer::Ok);
    // This test's notifier is `notify run --once` below, with the ack_url it adds.
    let (_serve, base) = s.serve(&["--no-notify"]);
    let path = s.w.path().join("ripcord.toml");
    let plan = std::fs::read_to_string(&path).unwrap();
    let plan = plan.replacen(
        "\n[notify]\nretry_after",
        &format!("\n[notify]\nack_url = \"{base}/\"\nretry_after"),
        1,
    );
    assert!(plan.contains("ack_url"));
    std::fs::write(&path, plan).unwrap();

    let id = s.notified_of_a_rollback_with_a_gap();
    let links_in = |who: &str, lang: &str| -> Vec<String> {
        let re = regex::Regex::new(&format!(
            r"{}/ack/[0-9a-f]{{64}}\?lang={lang}",
            regex::escape(&base)
        ))
        .unwrap();
        let mails = s.smtp.to(who);
        let links: Vec<String> = mails
            .iter()
            .filter_map(|m| {
                re.find(m["body"].as_str().unwrap())
                    .map(|x| x.as_str().to_string())
            })
            .collect();
        assert!(!links.is_empty(), "no link in {who}'s mail: {mails:#?}");
        links
    };
    let sams = links_in("sam@", "en");
    let sam = sams[0].clone();
    let huda = links_in("huda@", "ar")[0].clone();
    let token = sam
        .split("/ack/")
        .nth(1)
        .unwrap()
        .split('?')
        .next()
        .unwrap();
    let db = std::fs::read(s.w.path().join(".ripcord/state.db")).unwrap();
    assert!(
        !String::from_utf8_lossy(&db).contains(token),
        "the state store keeps the token's hash only"
    );

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let get = |url: &str| {
        let mut r = agent.get(url).call().unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    let post = |url: &str| {
        let mut r = agent
            .post(url)
            .header("Origin", &base)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send("")
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    let (status, page) = get(&sam);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(&id) && page.contains("Sam") && page.contains("method=\"post\""),
        "{page}"
    );
    assert!(
        s.incidents()[0]["acks"].as_array().unwrap().is_empty(),
        "opening the link acknowledges nothing"
    );
    // A POST from another site is refused, and the link still works after it.
    let (status, body) = {
        let mut r = agent
            .post(&sam)
            .header("Origin", "http://evil.example")
            .send("")
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    assert_eq!(status, 403, "{body}");
    let (status, body) = post(&sam);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(&format!(
            "incident <bdi dir=\"ltr\">{id}</bdi> acknowledged at level <bdi dir=\"ltr\">1</bdi> by <bdi dir=\"ltr\">Sam</bdi>"
        )),
        "{body}"
    );
    let (status, body) = post(&sam);
    assert_eq!(status, 410, "{body}");
    assert!(body.contains("already used"), "{body}");
    // The answer comes in the reader's language, as the confirm page does.
    let (status, body) = post(&sam.replace("?lang=en", "?lang=ar"));
    assert_eq!(status, 410, "{body}");
    assert!(
        body.contains("dir=\"rtl\"") && body.contains("هذا الرابط استُخدم من قبل"),
        "{body}"
    );
    let (status, page) = get(&sam);
    assert_eq!(status, 410, "{page}");
    // Huda's link is for the same level, which Sam acknowledged.
    let (status, body) = post(&huda);
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("already acknowledged (Sam"), "{body}");
    let by = s.acks_by();
    assert_eq!(by, ["Sam"]);
    let audit = s.ok(&["audit", "export"]);
    let acked = audit
        .lines()
        .find(|l| l.contains("\"action\":\"ack\"") && l.contains("\"result\":\"acknowledged\""))
        .unwrap_or_else(|| panic!("{audit}"));
    assert!(
        acked.contains("\"actor\":\"Sam\"") && acked.contains("\"via\":\"link\""),
        "{acked}"
    );
    assert!(!audit.contains(token), "no token in the audit log");

    // Every message had its own link; once the incident is resolved, none works.
    let other = sams
        .iter()
        .find(|l| **l != sam)
        .unwrap_or_else(|| panic!("one link per message: {sams:#?}"))
        .clone();
    // With the new column ignored again, a second rollback ends well and resolves it.
    let original = ripcord::commands::example_plan("workshop").to_string();
    let stripped = original.replace("ignore = [\"discount_baisa\"]", "");
    let plan = std::fs::read_to_string(&path).unwrap();
    assert!(plan.contains(&stripped));
    std::fs::write(&path, plan.replacen(&stripped, &original, 1)).unwrap();
    let o = s.ripcord(&["rollback", "-c", "billing", "--yes", "--reason", "again"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    s.notify_once();
    assert_eq!(s.incidents()[0]["incident"]["status"], "resolved");
    let (status, page) = get(&other);
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("resolved"), "{page}");
    let (status, body) = post(&other);
    assert_eq!(status, 410, "{body}");
    assert!(body.contains("resolved"), "{body}");
}

/// Issue #14's "done when" on PostgreSQL: a guarded run goes red and waits for an approver;
/// nobody acknowledges, so level 1 hears reminders and level 2 is reached; `ripcord ack`
/// stops level 2's reminders; the approval rolls back and everyone hears "resolved".
#[test]
fn a_red_run_on_postgres_escalates_until_acknowledged_then_resolves_after_approval() {
    let db = payslips_on_postgres();
    let dir = tempfile::tempdir().unwrap();
    let smtp = Smtp::start(dir.path());
    let plan = format!(
        r#"
{payroll}
[decision_matrix.scenarios.data_corruption]
decision = "evaluate"
approvers = ["cfo"]
approval_timeout = "2m"
on_timeout = "fix_forward"

[notify]
retry_after = "1s"
poll = "200ms"

{mail}
[[notify.levels]]
repeat = "2s"
escalate_after = "3s"
recipients = [
  {{ name = "Huda", language = "ar", channel = "mail", address = "huda@example.com" }},
  {{ name = "Sam", language = "en", channel = "mail", address = "sam@example.com" }},
]

[[notify.levels]]
delay = "0s"
repeat = "2s"
escalate_after = "1h"
recipients = [{{ name = "Mona", language = "ar", channel = "mail", address = "mona@example.com" }}]
"#,
        payroll = payroll_plan(&db.url, 60),
        mail = smtp.channel(),
    );
    std::fs::write(dir.path().join("ripcord.toml"), plan).unwrap();
    let ok = |args: &[&str]| ok_in(dir.path(), args);
    ok(&["baseline"]);
    let spawn = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ripcord"))
            .current_dir(dir.path())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut notifier = spawn(&["notify", "run", "--for", "120s"]);
    let run = spawn(&["run"]);
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let t = Instant::now();
        while !done() {
            assert!(
                t.elapsed() < Duration::from_secs(45),
                "{what}: {:#?}",
                smtp.mails()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };

    // Nobody acknowledges: reminders to level 1, then level 2 (Arabic) is reached.
    wait_for("level 2 reached", &|| !smtp.to("mona@").is_empty());
    assert!(smtp.reminders("sam@") >= 1, "{:#?}", smtp.to("sam@"));
    let sam = smtp.subjects("sam@");
    assert!(sam.iter().any(|s| s.contains("EMERGENCY")), "{sam:?}");
    let mona = smtp.to("mona@");
    assert!(
        mona.iter()
            .any(|m| m["subject"].as_str().unwrap().contains("تصعيد إلى المستوى")),
        "{mona:#?}"
    );

    let incidents: Vec<Value> = serde_json::from_str(&ok(&["incidents", "--json"])).unwrap();
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    let id = incidents[0]["incident"]["id"].as_str().unwrap().to_string();
    assert_eq!(incidents[0]["incident"]["cause"], "red_level");
    assert_eq!(incidents[0]["incident"]["status"], "open");

    // Level 2 acknowledges: its reminders stop while level 1's go on.
    let o = ok(&["ack", &id, "--as", "Mona"]);
    assert!(o.contains("acknowledged at level 2 by Mona"), "{o}");
    // One level-1 reminder first, so a level-2 message queued before the ack is out.
    let sam_at_ack = smtp.reminders("sam@");
    wait_for("a level-1 reminder after the ack", &|| {
        smtp.reminders("sam@") > sam_at_ack
    });
    let (mona_after_ack, sam_after_ack) = (smtp.to("mona@").len(), smtp.reminders("sam@"));
    wait_for("level 1 keeps hearing reminders", &|| {
        smtp.reminders("sam@") >= sam_after_ack + 2
    });
    assert_eq!(
        smtp.to("mona@").len(),
        mona_after_ack,
        "level 2 acknowledged: no reminder to it"
    );

    // The approver decides: the run rolls back and every level hears it resolved.
    let st = ok(&["status", "--json"]);
    let j: Value = serde_json::from_str(&st).unwrap();
    let run_id = j["open_decisions"][0]["run"]
        .as_str()
        .unwrap_or_else(|| panic!("an open decision: {j:#}"))
        .to_string();
    ok(&["approve", &run_id, "--as", "cfo"]);
    let out = run.wait_with_output().unwrap();
    assert_eq!(code(&out), 4, "stopped and rolled back: {}", text(&out));
    let resolved = |who: &str| {
        smtp.to(who).iter().any(|m| {
            let s = m["subject"].as_str().unwrap();
            s.contains("resolved") || s.contains("تم الحل")
        })
    };
    wait_for("resolved to both levels", &|| {
        resolved("sam@") && resolved("huda@") && resolved("mona@")
    });
    let _ = notifier.kill();
    let _ = notifier.wait();
    let incidents: Vec<Value> = serde_json::from_str(&ok(&["incidents", "--json"])).unwrap();
    assert_eq!(incidents[0]["incident"]["status"], "resolved");
    assert_eq!(incidents[0]["incident"]["outcome"]["ok"], true);
    let acks: Vec<&str> = incidents[0]["acks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["by"].as_str().unwrap())
        .collect();
    assert_eq!(acks, ["Mona"]);
    let audit = ok(&["audit", "export"]);
    assert!(audit.contains("\"action\":\"ack\""), "{audit}");
    assert!(audit.contains("\"action\":\"approval.approve\""), "{audit}");
}

/// Issue #14: the notifier runs inside `ripcord serve` (as in `watch` and `run`), so a
/// rollback in another process is heard without a `notify run` anywhere.
#[test]
fn serve_runs_the_notifier_so_a_rollback_elsewhere_is_mailed() {
    let s = setup(LEVELS, Answer::Ok);
    let (_serve, _) = s.serve(&[]);
    // Its notifier started before "listening" and first places its cursor at the end of
    // the log (what came before is history): give that first tick time to run.
    std::thread::sleep(Duration::from_secs(2));
    s.rollback_with_a_gap();
    let t = Instant::now();
    while s.smtp.to("sam@").is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(90),
            "serve's notifier sent nothing: {:#?}",
            s.smtp.mails()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let inc = s.incidents();
    assert_eq!(inc.len(), 1, "{inc:#?}");
    assert_eq!(inc[0]["incident"]["cause"], "rollback");
}

/// Issue #14's "checkpoint stale": `check` finding a component's newest checkpoint over
/// `max_checkpoint_age` tells level 1, once per checkpoint however often `check` runs.
#[test]
fn a_stale_checkpoint_found_by_check_is_told_to_level_one_once() {
    let s = setup(LEVELS, Answer::Ok);
    let path = s.w.path().join("ripcord.toml");
    let plan = std::fs::read_to_string(&path).unwrap();
    let plan = plan.replacen(
        "name = \"universal-workshop\"",
        "name = \"universal-workshop\"\nmax_checkpoint_age = \"1s\"",
        1,
    );
    std::fs::write(&path, plan).unwrap();
    s.notify_once();
    s.ok(&["checkpoint"]);
    std::thread::sleep(Duration::from_millis(2_100));
    for _ in 0..2 {
        let o = s.ripcord(&["check"]);
        assert_eq!(code(&o), 3, "stale: NO-GO: {}", text(&o));
        assert!(text(&o).contains("is 2s old") || text(&o).contains("old, over the limit"));
    }
    s.notify_once();
    let subjects = |who: &str| -> Vec<String> {
        s.smtp
            .to(who)
            .iter()
            .map(|m| m["subject"].as_str().unwrap().to_string())
            .collect()
    };
    let sam = subjects("sam@");
    assert!(
        sam.iter()
            .any(|x| x.contains("stale checkpoint") && x.contains("billing")),
        "{sam:#?}"
    );
    assert!(
        sam.iter().all(|x| x.contains("stale checkpoint")),
        "{sam:#?}"
    );
    let mut once = sam.clone();
    once.dedup();
    assert_eq!(
        once, sam,
        "once per component and checkpoint, two checks or not"
    );
    assert_eq!(
        subjects("huda@").len(),
        sam.len(),
        "Huda hears it too, in Arabic: {:#?}",
        s.smtp.to("huda@")
    );
    assert!(
        s.http.bodies("/alertmanager").is_empty(),
        "level 1 only, no incident"
    );
    assert!(s.incidents().is_empty());
}

/// A fresh PostgreSQL database with the payroll seed's `payslips` table, net pay right.
fn payslips_on_postgres() -> FreshDb {
    use ripcord_core::engine::Engine;
    let db = FreshDb::new("postgres");
    ripcord_postgres::PgEngine::open(&db.url)
        .unwrap()
        .execute(
            "CREATE TABLE payslips (id int PRIMARY KEY, gross_pay numeric(12,2) NOT NULL, deductions numeric(12,2) NOT NULL, net_pay numeric(12,2) NOT NULL);
             INSERT INTO payslips SELECT g, 5000 + g, 1000, 4000 + g FROM generate_series(1, 40) g;",
            ripcord_core::journal::Origin::Business,
        )
        .unwrap();
    db
}

/// The payroll plan up to its `[notify]`: a step that breaks net pay, a second that runs
/// `sleep` seconds, and a red rule (scenario `data_corruption`) that sees the damage.
fn payroll_plan(url: &str, sleep: u32) -> String {
    format!(
        r#"
[project]
name = "payroll"

[databases.payroll]
url = "{url}"

[components.payroll]
database = "payroll"
tables = ["payslips"]
priority = "critical"

[[steps]]
name = "recalculate net pay"
component = "payroll"
forward = "UPDATE payslips SET net_pay = gross_pay + 150 - deductions"

[[steps]]
name = "rebuild payslip reports"
component = "payroll"
forward = "SELECT pg_sleep({sleep})"
timeout = "2m"

[guard]
baseline_samples = 3
baseline_interval = "50ms"

[[probe]]
name = "payslip_mismatches"
kind = "sql"
database = "payroll"
sql = "SELECT count(*) FROM payslips WHERE net_pay <> gross_pay - deductions"
interval = "100ms"

[[rule]]
name = "payslips corrupted"
when = "payslip_mismatches > baseline.payslip_mismatches.p95"
for = "200ms"
level = "red"
scenario = "data_corruption"
"#
    )
}

/// Runs ripcord in `dir`, asserting it exits 0; its output.
fn ok_in(dir: &Path, args: &[&str]) -> String {
    let o = ripcord_in(dir, args, &[]);
    assert_eq!(code(&o), 0, "ripcord {args:?}: {}", text(&o));
    text(&o)
}

/// A child process killed (and reaped) when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
