//! Connections as operators make them: TLS to a throwaway PostgreSQL (`ssl = on`) and a
//! throwaway MariaDB (`--ssl-cert`), both with certificates this test makes with the
//! openssl CLI; libpq's environment and password file; `MYSQL_PWD` and `~/.my.cnf`; and the
//! failures (refused port, unknown host, a server that accepts and never answers, a wrong
//! password, a certificate from another CA), each of which must say its cause.
//!
//! The throwaway servers are stopped and their folders removed by `Drop`, also when an
//! assertion fails.

mod common;

use common::{code, text};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
const PG_PASSWORD: &str = "pg-Secret-4711";
const MY_PASSWORD: &str = "my-Secret-0815";

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A CA, a server certificate it signs (for IP 127.0.0.1 only), and a second, unrelated CA.
struct Certs {
    ca: PathBuf,
    other_ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn make_certs(dir: &Path) -> Certs {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    for (name, cn) in [("ca", "ripcord test CA"), ("other", "some other CA")] {
        run(Command::new("openssl")
            .current_dir(dir)
            .args(["req", "-x509", "-days", "2", "-subj"])
            .arg(format!("/CN={cn}"))
            .args(ec)
            .args([
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.crt"),
            ]));
    }
    run(Command::new("openssl")
        .current_dir(dir)
        .args(["req", "-subj", "/CN=127.0.0.1"])
        .args(ec)
        .args(["-keyout", "server.key", "-out", "server.csr"]));
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(Command::new("openssl").current_dir(dir).args([
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.crt",
    ]));
    Certs {
        ca: dir.join("ca.crt"),
        other_ca: dir.join("other.crt"),
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
    }
}

/// A PostgreSQL 15 with `ssl = on` and password (SCRAM) authentication on a free loopback
/// port, with a table `accounts` in database `postgres`.
struct PgServer {
    dir: tempfile::TempDir,
    port: u16,
    certs: Certs,
}

impl PgServer {
    fn start() -> PgServer {
        let dir = tempfile::tempdir().unwrap();
        let certs = make_certs(dir.path());
        std::fs::write(dir.path().join("pw"), PG_PASSWORD).unwrap();
        run(Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path()));
        let port = free_port();
        let data = dir.path().join("data");
        run(Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(format!("{PG_BIN}/initdb"))
            .args(["-A", "scram-sha-256", "-U", "postgres", "--no-sync"])
            .arg(format!("--pwfile={}", dir.path().join("pw").display()))
            .arg("-D")
            .arg(&data)
            .stdout(Stdio::null()));
        let server = PgServer { dir, port, certs };
        run(Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(format!("{PG_BIN}/pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(server.dir.path().join("log"))
            .arg("-w")
            .arg("-o")
            .arg(format!(
                "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c ssl=on -c ssl_cert_file={} -c ssl_key_file={} -c fsync=off",
                server.dir.path().display(),
                server.certs.cert.display(),
                server.certs.key.display()
            ))
            .arg("start")
            .stdout(Stdio::null()));
        run(Command::new("psql")
            .arg(format!(
                "host=127.0.0.1 port={port} user=postgres dbname=postgres password={PG_PASSWORD}"
            ))
            .args(["-qc", "CREATE TABLE accounts (id INT PRIMARY KEY, owner TEXT); INSERT INTO accounts VALUES (1, 'ada'), (2, 'bob')"]));
        server
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(format!("{PG_BIN}/pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A MariaDB with TLS on a free loopback port, user `rc` (password [`MY_PASSWORD`]) and a
/// database `t` holding `accounts`.
struct MyServer {
    child: Child,
    _dir: tempfile::TempDir,
    port: u16,
    certs: Certs,
}

impl MyServer {
    fn start() -> MyServer {
        let dir = tempfile::tempdir().unwrap();
        let certs = make_certs(dir.path());
        let data = dir.path().join("data");
        run(Command::new("mariadb-install-db")
            .args(["--no-defaults", "--user=root", "--skip-test-db"])
            .arg(format!("--datadir={}", data.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null()));
        let port = free_port();
        let socket = dir.path().join("sock");
        let child = Command::new("/usr/sbin/mariadbd")
            .args(["--no-defaults", "--user=root", "--bind-address=127.0.0.1"])
            .arg(format!("--port={port}"))
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!(
                "--log-error={}",
                dir.path().join("err.log").display()
            ))
            .arg(format!("--ssl-ca={}", certs.ca.display()))
            .arg(format!("--ssl-cert={}", certs.cert.display()))
            .arg(format!("--ssl-key={}", certs.key.display()))
            .args(["--innodb-buffer-pool-size=32M", "--skip-name-resolve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mariadbd");
        let server = MyServer {
            child,
            _dir: dir,
            port,
            certs,
        };
        let admin = |sql: &str| {
            Command::new("mariadb")
                .arg(format!("--socket={}", socket.display()))
                .args(["-uroot", "-e", sql])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        };
        let started = Instant::now();
        while !admin("SELECT 1") {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the throwaway MariaDB did not start"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        assert!(admin(&format!(
            "CREATE USER rc@'%' IDENTIFIED BY '{MY_PASSWORD}'; GRANT ALL ON *.* TO rc@'%'; \
             CREATE DATABASE t; CREATE TABLE t.accounts (id INT PRIMARY KEY, owner TEXT); \
             INSERT INTO t.accounts VALUES (1, 'ada'), (2, 'bob')"
        )));
        server
    }
}

impl Drop for MyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A folder with a plan whose one database's URL is `${DBURL}`, and an empty home folder
/// (no `~/.pgpass`, `~/.postgresql` or `~/.my.cnf` from the machine).
struct Folder {
    dir: tempfile::TempDir,
    home: tempfile::TempDir,
}

impl Folder {
    fn new() -> Folder {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("ripcord.toml"),
            "[databases.legacy]\nurl = \"${DBURL}\"\n\n[components.ledger]\ndatabase = \"legacy\"\ntables = [\"accounts\"]\n",
        )
        .unwrap();
        Folder {
            dir,
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// `ripcord ARGS` with the plan's URL and the extra environment; (exit code, output).
    fn ripcord(&self, args: &[&str], url: &str, env: &[(&str, &str)]) -> (i32, String) {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ripcord"));
        c.current_dir(self.dir.path())
            .args(args)
            .env("DBURL", url)
            .env("HOME", self.home.path())
            .env("RIPCORD_ACTOR", "tester");
        for k in [
            "PGHOST",
            "PGPORT",
            "PGUSER",
            "PGPASSWORD",
            "PGDATABASE",
            "PGSSLMODE",
            "PGSSLROOTCERT",
            "PGPASSFILE",
            "PGCONNECT_TIMEOUT",
            "MYSQL_PWD",
            "MYSQL_HOME",
        ] {
            c.env_remove(k);
        }
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let t = text(&out);
        for secret in [PG_PASSWORD, MY_PASSWORD, "wrong-pass"] {
            assert!(!t.contains(secret), "a password was printed: {t}");
        }
        (code(&out), t)
    }

    fn checkpoint(&self, url: &str, env: &[(&str, &str)]) -> (i32, String) {
        self.ripcord(&["checkpoint", "-c", "ledger"], url, env)
    }
}

fn ok(r: (i32, String)) {
    assert_eq!(r.0, 0, "{}", r.1);
    assert!(r.1.contains("verified"), "{}", r.1);
}

fn fails_with(r: (i32, String), words: &str) {
    assert_ne!(r.0, 0, "{}", r.1);
    assert!(r.1.contains(words), "expected {words:?} in: {}", r.1);
}

#[test]
fn postgres_over_tls_with_every_sslmode_env_and_pgpass() {
    let s = PgServer::start();
    let f = Folder::new();
    let (p, ca, other) = (s.port, s.certs.ca.display(), s.certs.other_ca.display());
    let base = format!("postgres://postgres:{PG_PASSWORD}@127.0.0.1:{p}/postgres");
    ok(f.checkpoint(&format!("{base}?sslmode=require"), &[]));
    ok(f.checkpoint(&format!("{base}?sslmode=verify-full&sslrootcert={ca}"), &[]));
    // `check` too goes through the same path.
    let (_, out) = f.ripcord(
        &["check"],
        &format!("{base}?sslmode=verify-full&sslrootcert={ca}"),
        &[],
    );
    assert!(!out.contains("cannot connect"), "{out}");
    fails_with(
        f.checkpoint(
            &format!("{base}?sslmode=verify-full&sslrootcert={other}"),
            &[],
        ),
        "its certificate is not signed by the CA in sslrootcert",
    );
    // The certificate names 127.0.0.1, not localhost: verify-ca accepts it, verify-full not.
    let local = format!("postgres://postgres:{PG_PASSWORD}@localhost:{p}/postgres");
    ok(f.checkpoint(&format!("{local}?sslmode=verify-ca&sslrootcert={ca}"), &[]));
    fails_with(
        f.checkpoint(
            &format!("{local}?sslmode=verify-full&sslrootcert={ca}"),
            &[],
        ),
        "not valid for that host name",
    );
    fails_with(
        f.checkpoint(
            &format!("postgres://postgres:wrong-pass@127.0.0.1:{p}/postgres"),
            &[],
        ),
        "refused the login: password authentication failed",
    );

    // libpq's environment fills what the target leaves out.
    let port = p.to_string();
    let root = s.certs.ca.display().to_string();
    let env = [
        ("PGHOST", "127.0.0.1"),
        ("PGPORT", port.as_str()),
        ("PGUSER", "postgres"),
        ("PGDATABASE", "postgres"),
        ("PGSSLMODE", "verify-full"),
        ("PGSSLROOTCERT", root.as_str()),
    ];
    ok(f.checkpoint(
        "postgres://",
        &[&env[..], &[("PGPASSWORD", PG_PASSWORD)]].concat(),
    ));
    fails_with(
        f.checkpoint(
            "postgres://",
            &[&env[..], &[("PGPASSWORD", "wrong-pass")]].concat(),
        ),
        "(the password came from PGPASSWORD)",
    );
    // A URL wins over the environment: this one names a port nothing listens on.
    let closed = free_port();
    fails_with(
        f.checkpoint(&format!("postgres://127.0.0.1:{closed}"), &env),
        &format!("connection refused by 127.0.0.1:{closed}"),
    );

    // The password file, as libpq reads it, with a key=value target; ignored unless private.
    let pgpass = f.home.path().join(".pgpass");
    std::fs::write(&pgpass, format!("127.0.0.1:{p}:*:postgres:{PG_PASSWORD}\n")).unwrap();
    let kv = format!("host=127.0.0.1 port={p} user=postgres dbname=postgres sslmode=require");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
    fails_with(f.checkpoint(&kv, &[]), "password");
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    ok(f.checkpoint(&kv, &[]));
}

#[test]
fn mariadb_over_tls_with_ssl_modes_mysql_pwd_and_option_file() {
    let s = MyServer::start();
    let f = Folder::new();
    let (p, ca, other) = (s.port, s.certs.ca.display(), s.certs.other_ca.display());
    let base = format!("mysql://rc:{MY_PASSWORD}@127.0.0.1:{p}/t");
    ok(f.checkpoint(&format!("{base}?ssl-mode=REQUIRED"), &[]));
    ok(f.checkpoint(&format!("{base}?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"), &[]));
    ok(f.checkpoint(&format!("{base}?ssl-mode=VERIFY_CA&ssl-ca={ca}"), &[]));
    fails_with(
        f.checkpoint(
            &format!("{base}?ssl-mode=VERIFY_IDENTITY&ssl-ca={other}"),
            &[],
        ),
        "its certificate is not signed by the CA in ssl-ca",
    );
    fails_with(
        f.checkpoint(&format!("mysql://rc:wrong-pass@127.0.0.1:{p}/t"), &[]),
        "refused the login: Access denied for user 'rc'",
    );
    // The password from MYSQL_PWD when the URL has none.
    let bare = format!("mariadb://rc@127.0.0.1:{p}/t?ssl-mode=REQUIRED");
    ok(f.checkpoint(&bare, &[("MYSQL_PWD", MY_PASSWORD)]));
    fails_with(
        f.checkpoint(&bare, &[("MYSQL_PWD", "wrong-pass")]),
        "(the password came from MYSQL_PWD)",
    );
    // And from ~/.my.cnf's [client] section, which comes before MYSQL_PWD.
    std::fs::write(
        f.home.path().join(".my.cnf"),
        format!("[mysqld]\nport = 1\n[client]\npassword = \"{MY_PASSWORD}\"\n"),
    )
    .unwrap();
    ok(f.checkpoint(&bare, &[("MYSQL_PWD", "wrong-pass")]));
}

/// Accepts connections and never says a word.
fn silent_listener() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming() {
            held.push(s);
        }
    });
    port
}

#[test]
fn failures_to_connect_say_their_cause() {
    let f = Folder::new();
    let silent = silent_listener();
    let closed = free_port();
    for (scheme, server) in [("postgres", "PostgreSQL"), ("mysql", "MariaDB/MySQL")] {
        fails_with(
            f.checkpoint(
                &format!("{scheme}://u@127.0.0.1:{silent}/d?connect_timeout=1"),
                &[],
            ),
            &format!("127.0.0.1:{silent} accepted the connection but did not answer within 1 s"),
        );
        fails_with(
            f.checkpoint(&format!("{scheme}://u@127.0.0.1:{closed}/d"), &[]),
            &format!("connection refused by 127.0.0.1:{closed} (is {server} running"),
        );
        fails_with(
            f.checkpoint(&format!("{scheme}://u@no-such-host.invalid/d"), &[]),
            "cannot resolve the host name \"no-such-host.invalid\"",
        );
    }
    // Secrets in a key=value string are not printed either.
    let (_, out) = f.checkpoint(
        &format!("host=127.0.0.1 port={closed} user=u password=wrong-pass dbname=d"),
        &[],
    );
    assert!(out.contains("password=***"), "{out}");
}
