//! The dashboard's view of the DuckDB database `load duckdb` made: opened read-only, with no
//! access to files or extensions, so that the page's SQL box can only read what is loaded.
//! A statement that is not a query is refused before it runs, with a message saying why;
//! the database's read-only mode and DuckDB's `enable_external_access = false` (locked) stay
//! behind that check for anything it lets through.

use anyhow::{Context, Result, bail};
use duckdb::{AccessMode, Config, Connection};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// At most this many rows of a result are shown.
pub const MAX_ROWS: usize = 500;
/// A query still running after this long is interrupted.
pub const MAX_TIME: Duration = Duration::from_secs(10);

/// The statements the SQL box runs: those that only read.
const QUERIES: &[&str] = &[
    "SELECT",
    "WITH",
    "FROM",
    "VALUES",
    "TABLE",
    "SHOW",
    "DESCRIBE",
    "DESC",
    "SUMMARIZE",
    "EXPLAIN",
];

/// The database, opened afresh for each request (a load between two requests shows).
#[derive(Clone)]
pub struct Db {
    pub path: PathBuf,
}

/// A query's result, as text cells.
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// More rows than [`MAX_ROWS`] were there.
    pub truncated: bool,
    pub elapsed: Duration,
}

impl Db {
    /// The database at `path`, which must exist.
    pub fn at(path: &Path) -> Result<Db> {
        if !path.is_file() {
            bail!(
                "--db {}: no DuckDB database there: run `affinity-sync load duckdb --from DIR --db {}` first, or leave --db out",
                path.display(),
                path.display()
            );
        }
        Ok(Db {
            path: path.to_path_buf(),
        })
    }

    fn open(&self) -> Result<Connection> {
        let config = Config::default()
            .access_mode(AccessMode::ReadOnly)?
            .enable_external_access(false)?
            .enable_autoload_extension(false)?
            .with("lock_configuration", "true")?;
        Connection::open_with_flags(&self.path, config).with_context(|| {
            format!(
                "opening {} read-only (is a load writing it right now?)",
                self.path.display()
            )
        })
    }

    /// Runs `sql`, a query typed by a person: refused unless it only reads, cut at
    /// [`MAX_ROWS`] rows and interrupted after [`MAX_TIME`]. Errors are for people.
    pub fn query(&self, sql: &str) -> Result<Rows> {
        if let Some(why) = refusal(sql) {
            bail!("{why}");
        }
        self.run(sql, MAX_TIME).map_err(|e| {
            let text = format!("{e:#}");
            if text.contains("INTERRUPT") || text.contains("nterrupted") {
                anyhow::anyhow!(
                    "the query ran longer than {} s and was stopped: add a LIMIT or a WHERE",
                    MAX_TIME.as_secs()
                )
            } else if text.contains("Permission Error") || text.contains("external access") {
                anyhow::anyhow!(
                    "reading or writing files is refused here: this page reads the loaded tables only"
                )
            } else {
                e
            }
        })
    }

    /// Runs `sql` (the dashboard's own statements, or a checked query) with a time limit.
    pub fn run(&self, sql: &str, limit: Duration) -> Result<Rows> {
        let conn = self.open()?;
        let started = Instant::now();
        let done = Arc::new(AtomicBool::new(false));
        let watchdog = {
            let done = done.clone();
            let handle = conn.interrupt_handle();
            std::thread::spawn(move || {
                while started.elapsed() < limit {
                    if done.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                handle.interrupt();
            })
        };
        let result = (|| -> Result<Rows> {
            let mut stmt = conn.prepare(sql)?;
            let mut rows = stmt.query([])?;
            let columns: Vec<String> = rows.as_ref().map(|s| s.column_names()).unwrap_or_default();
            let mut out = vec![];
            let mut truncated = false;
            while let Some(row) = rows.next()? {
                if out.len() == MAX_ROWS {
                    truncated = true;
                    break;
                }
                let mut line = Vec::with_capacity(columns.len());
                for i in 0..columns.len() {
                    let v: duckdb::types::Value = row.get(i)?;
                    line.push(match v {
                        duckdb::types::Value::Null => String::new(),
                        v => crate::ops::duckdb_load::show(&v),
                    });
                }
                out.push(line);
            }
            Ok(Rows {
                columns,
                rows: out,
                truncated,
                elapsed: started.elapsed(),
            })
        })();
        done.store(true, Ordering::Relaxed);
        let _ = watchdog.join();
        result
    }

    /// The first column of the first row of `sql`, as text.
    pub fn scalar(&self, sql: &str) -> Result<Option<String>> {
        Ok(self
            .run(sql, MAX_TIME)?
            .rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next()))
    }

    /// Whether a table or view `name` is in the database.
    pub fn has(&self, name: &str) -> Result<bool> {
        let quoted = name.replace('\'', "''");
        Ok(self
            .scalar(&format!(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = '{quoted}'"
            ))?
            .is_some_and(|n| n != "0"))
    }
}

/// Why `sql` is refused, if it is: it is more than one statement, or not a query.
pub fn refusal(sql: &str) -> Option<String> {
    let code = without_comments_and_strings(sql);
    let body = code.trim().trim_end_matches(';');
    if body.trim().is_empty() {
        return Some("the query is empty: type a SELECT".into());
    }
    if body.contains(';') {
        return Some("one statement at a time: this box runs a single query".into());
    }
    let first: String = body
        .trim_start_matches(|c: char| c.is_whitespace() || c == '(')
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase();
    (!QUERIES.contains(&first.as_str())).then(|| {
        format!(
            "`{first}` is refused: this page only reads the database (SELECT, WITH, FROM, \
             SHOW, DESCRIBE, SUMMARIZE, EXPLAIN). To change it, use the duckdb CLI on the file."
        )
    })
}

/// `sql` with its comments and the contents of its string literals and quoted names blanked
/// out, so that a `;` or a keyword inside them is not taken for code.
fn without_comments_and_strings(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '-' if chars.peek() == Some(&'-') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
                out.push(' ');
            }
            '\'' | '"' => {
                // A doubled quote inside is an escaped one: the literal goes on.
                out.push(c);
                while let Some(d) = chars.next() {
                    if d == c {
                        if chars.peek() == Some(&c) {
                            chars.next();
                            continue;
                        }
                        break;
                    }
                }
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_single_queries_pass() {
        for ok in [
            "SELECT 1",
            "  select * from persons;",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "FROM persons LIMIT 3",
            "-- a comment; with a semicolon\nSELECT ';' AS s",
            "(SELECT 1) UNION (SELECT 2)",
            "DESCRIBE persons",
        ] {
            assert_eq!(refusal(ok), None, "{ok}");
        }
        for (bad, says) in [
            ("DROP TABLE persons", "`DROP` is refused"),
            ("  insert into persons values (1)", "`INSERT` is refused"),
            ("COPY persons TO 'x.csv'", "`COPY` is refused"),
            ("ATTACH 'other.db'", "`ATTACH` is refused"),
            ("SELECT 1; DROP TABLE persons", "one statement at a time"),
            ("/* hi */ DELETE FROM persons", "`DELETE` is refused"),
            ("", "empty"),
        ] {
            let why = refusal(bad).unwrap_or_else(|| panic!("{bad} passed"));
            assert!(why.contains(says), "{bad}: {why}");
        }
    }
}
