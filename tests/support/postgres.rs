//! A real PostgreSQL for the tests: a throwaway cluster (initdb into a temp dir, a free
//! loopback port, password authentication), stopped and removed on drop. The server comes
//! from Debian's `postgresql` package, which `scripts/test.sh` installs; it refuses to run
//! as root, so as root the cluster belongs to the `postgres` user the package creates.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const USER: &str = "loader";
/// Must never show in anything `load postgres` prints.
pub const PASSWORD: &str = "pg-test-password-9f3k2";

pub struct Postgres {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
}

impl Postgres {
    pub fn dsn(&self) -> String {
        format!(
            "postgres://{USER}:{PASSWORD}@127.0.0.1:{}/postgres",
            self.port
        )
    }

    /// A connected client (the connection runs on the current runtime).
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.dsn(), tokio_postgres::NoTls)
            .await
            .expect("connect to the test PostgreSQL");
        tokio::spawn(conn);
        client
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_owner(Command::new(self.bin.join("pg_ctl")).args([
            "-D",
            &data(&self.dir),
            "-m",
            "immediate",
            "stop",
        ]))
        .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn data(dir: &Path) -> String {
    dir.join("data").display().to_string()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `cmd`, run as the `postgres` user when we are root.
fn as_owner(cmd: &mut Command) -> Command {
    if is_root() {
        let mut wrapped = Command::new("runuser");
        wrapped
            .args(["-u", "postgres", "--"])
            .arg(cmd.get_program())
            .args(cmd.get_args());
        wrapped
    } else {
        let mut same = Command::new(cmd.get_program());
        same.args(cmd.get_args());
        same
    }
}

/// The server's programs: `$AFFINITY_SYNC_PG_BIN`, `pg_config --bindir`, or the newest
/// `/usr/lib/postgresql/*/bin`.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("AFFINITY_SYNC_PG_BIN") {
        return dir.into();
    }
    if let Ok(o) = Command::new("pg_config").arg("--bindir").output()
        && o.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
        if dir.join("initdb").is_file() {
            return dir;
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").is_file())
        .collect();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
    });
    versions.pop().expect(
        "no PostgreSQL server found: install Debian's `postgresql` (scripts/test.sh does), or set AFFINITY_SYNC_PG_BIN",
    )
}

fn run(cmd: &mut Command, what: &str) {
    let o = as_owner(cmd)
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        o.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Starts a fresh cluster.
pub fn start_postgres() -> Postgres {
    let bin = bin_dir();
    // Under /tmp, not the target dir: the `postgres` user must reach it.
    // Tests of one binary start clusters at the same moment: a counter keeps their dirs apart.
    static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "affinity-sync-pg-{}-{}-{}",
        std::process::id(),
        STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 1_000_000_007
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let pwfile = dir.join("pw");
    std::fs::write(&pwfile, PASSWORD).unwrap();
    if is_root() {
        let o = Command::new("chown")
            .args(["-R", "postgres:postgres", &dir.display().to_string()])
            .output()
            .expect("chown");
        assert!(o.status.success(), "chown the cluster dir: {o:?}");
    }
    run(
        Command::new(bin.join("initdb")).args([
            "-D",
            &data(&dir),
            "-U",
            USER,
            "--auth=scram-sha-256",
            &format!("--pwfile={}", pwfile.display()),
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ]),
        "initdb",
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let pg = Postgres { dir, bin, port };
    run(
        Command::new(pg.bin.join("pg_ctl")).args([
            "-D",
            &data(&pg.dir),
            "-w",
            "-l",
            &pg.dir.join("server.log").display().to_string(),
            "-o",
            &format!(
                "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                pg.dir.display()
            ),
            "start",
        ]),
        "pg_ctl start",
    );
    pg
}
