//! The dashboard's six views, each a function from what the store and the database hold to
//! the HTML of its body: Overview (the latest sync as `status` sees it), History (syncs over
//! time, and streams whose counts fell), Tables (the catalog with row counts), Data (a SQL
//! box, read only), Fields (how many records have a value in each field) and Changes (webhook
//! events since the latest sync).

use super::db::{self, Db};
use super::html::{Point, chart, count, esc, table, url_encode};
use super::snapshot::{Snapshot, falls};
use crate::ops::duckdb_sql::duckdb_type;
use affinity_sync_core::catalog::STREAMS;
use affinity_sync_core::table::Table;
use anyhow::Result;
use std::fmt::Write;

/// What a view says when no database was given or found.
fn no_db(what: &str) -> String {
    format!(
        "<div class=\"warning\" id=\"no-db\">{what} comes from the DuckDB database: run \
         <code>affinity-sync load duckdb --from DIR --db affinity.duckdb</code>, then \
         <code>affinity-sync show --db affinity.duckdb</code>.</div>"
    )
}

fn error_box(id: &str, e: &anyhow::Error) -> String {
    format!(
        "<div class=\"error\" id=\"{id}\">{}</div>",
        esc(&format!("{e:#}"))
    )
}

fn stat(label: &str, value: &str) -> String {
    format!(
        "<div class=\"stat\"><div class=\"label\">{}</div><div class=\"value\">{value}</div></div>",
        esc(label)
    )
}

/// `2026-12-05T10:11:12Z` as `2026-12-05 10:11`.
fn when(rfc3339: &str) -> String {
    rfc3339.get(..16).unwrap_or(rfc3339).replace('T', " ")
}

fn seconds(s: Option<f64>) -> String {
    match s {
        Some(s) if s >= 120.0 => format!("{:.1} min", s / 60.0),
        Some(s) => format!("{s:.1} s"),
        None => "–".into(),
    }
}

/// Overview: the latest sync (complete, running with its progress, or stopped with its
/// parked pages and the command that finishes it), records per stream of the latest
/// complete sync, and the webhook changes waiting.
pub fn overview(snap: &Snapshot) -> String {
    let mut out = String::from("<h1>Overview</h1>");
    let report = &snap.report;
    let _ = write!(
        out,
        "<p>Health: <span class=\"badge {0}\" id=\"health\">{0}</span> \
         <span class=\"note\">checked {1}</span></p>",
        report.health,
        esc(&when(&report.checked_at))
    );
    if let Some(latest) = snap.complete.last() {
        for f in falls(&snap.complete)
            .iter()
            .filter(|f| f.sync_id == latest.sync_id)
        {
            let _ = write!(
                out,
                "<div class=\"warning fall\" data-stream=\"{0}\"><b>{0}</b> fell to {1} records \
                 from {2} in the full sync before: lost data, or a permission revoked? \
                 (see History)</div>",
                esc(&f.stream),
                count(f.records),
                count(f.previous_records)
            );
        }
    }
    match &snap.latest {
        None => out.push_str(
            "<div class=\"warning\">No syncs in this store yet: run <code>affinity-sync sync</code>.</div>",
        ),
        Some(s) => {
            let _ = write!(
                out,
                "<div class=\"card\" id=\"latest-sync\"><h2>Latest sync <code>{}</code> \
                 <span class=\"badge {1}\" id=\"latest-state\">{1}</span></h2><div class=\"grid\">",
                esc(&s.sync_id),
                s.state
            );
            out.push_str(&stat("kind", s.kind));
            out.push_str(&stat("runs on", s.runs_on.as_deref().unwrap_or("–")));
            out.push_str(&stat("started", &esc(&when(&s.started_at))));
            match (&s.finished_at, &s.last_activity) {
                (Some(f), _) => out.push_str(&stat("finished", &esc(&when(f)))),
                (None, Some(a)) => out.push_str(&stat("last activity", &esc(&when(a)))),
                _ => {}
            }
            out.push_str(&stat("duration", &seconds(s.duration_seconds)));
            out.push_str(&stat("records", &count(s.records)));
            out.push_str(&stat("requests", &count(s.tally.requests)));
            out.push_str(&stat("retries", &count(s.tally.retries)));
            out.push_str(&stat("429 answers", &count(s.tally.throttled)));
            out.push_str(&stat(
                "pages done / pending / parked",
                &format!(
                    "{} / {} / {}",
                    count(s.pages.done),
                    count(s.pages.pending),
                    count(s.pages.parked)
                ),
            ));
            out.push_str("</div>");
            if s.state == "running" {
                let all = (s.pages.done + s.pages.pending + s.pages.parked).max(1);
                let _ = write!(
                    out,
                    "<p id=\"progress\">{} of {} pages known so far are done \
                     <span class=\"bar\"><span style=\"width:{}%\"></span></span></p>",
                    count(s.pages.done),
                    count(all),
                    s.pages.done * 100 / all
                );
            }
            if let Some(reason) = &s.reason {
                let _ = write!(
                    out,
                    "<div class=\"error\" id=\"stopped-reason\">{}</div>",
                    esc(reason)
                );
            }
            if let Some(parked) = s.parked.as_ref().filter(|p| !p.is_empty()) {
                out.push_str("<h2>Parked pages</h2>");
                let rows: Vec<Vec<String>> = parked
                    .iter()
                    .map(|p| {
                        vec![
                            esc(&p.stream),
                            p.page.to_string(),
                            p.attempts.to_string(),
                            esc(&when(&p.failed_at)),
                            esc(&p.error),
                        ]
                    })
                    .collect();
                out.push_str(&table(
                    "parked",
                    &["stream", "#page", "#attempts", "failed at", "why"],
                    &rows,
                ));
            }
            if let Some(step) = &s.next_step {
                let _ = write!(
                    out,
                    "<h2>What to run</h2><pre class=\"cmd\" id=\"next-step\">{}</pre>",
                    esc(step)
                );
            }
            out.push_str("</div>");
        }
    }
    match snap.complete.last() {
        None => out.push_str("<p class=\"note\">No complete sync yet.</p>"),
        Some(m) => {
            let _ = write!(
                out,
                "<h2>Records per stream in the latest complete sync <code>{}</code></h2>",
                esc(&m.sync_id)
            );
            let rows: Vec<Vec<String>> = m
                .streams
                .iter()
                .map(|s| {
                    vec![
                        format!("<span data-stream=\"{0}\">{0}</span>", esc(&s.stream)),
                        count(s.records),
                        count(s.pages),
                        count(s.tally.requests),
                        match &s.since {
                            Some(since) => format!("changes since {}", esc(&when(since))),
                            None => "in full".into(),
                        },
                    ]
                })
                .collect();
            out.push_str(&table(
                "streams",
                &["stream", "#records", "#pages", "#requests", "read"],
                &rows,
            ));
        }
    }
    out.push_str("<h2>Monthly quota</h2>");
    let seen = snap
        .complete
        .iter()
        .rev()
        .find_map(|m| m.quota.as_ref().map(|q| (m, q)));
    match seen {
        Some((m, q)) => {
            let used: u64 = m.streams.iter().map(|s| s.tally.requests).sum();
            let left = q.monthly_remaining.saturating_sub(used);
            let _ = write!(
                out,
                "<div class=\"card\" id=\"quota\"><div class=\"grid\">{}{}{}</div>\
                 <p class=\"note\">Before sync <code>{}</code> began ({}), {} of {} requests were \
                 left; it used {}. Others using the API key count too: \
                 <code>affinity-sync plan</code> reads the figure now.</p></div>",
                stat("left, about", &count(left)),
                stat("of the month's", &count(q.monthly_limit)),
                stat("resets", &esc(&when(&q.resets_at))),
                esc(&m.sync_id),
                esc(&when(&q.read_at)),
                count(q.monthly_remaining),
                count(q.monthly_limit),
                count(used),
            );
        }
        None => out.push_str(
            "<p class=\"note\" id=\"quota\">No complete sync recorded the monthly quota (the \
             CLI's syncs do): <code>affinity-sync plan</code> reads it.</p>",
        ),
    }
    out.push_str("<h2>Webhook changes</h2>");
    out.push_str(&change_counts(&report.changes, "change-summary"));
    out
}

/// The webhook changes `status` counts: events the latest complete sync does not hold, and
/// refreshes pending and failed.
fn change_counts(c: &crate::ops::status::Changes, id: &str) -> String {
    let oldest = c.oldest_pending_sent_at.as_deref().map(when);
    format!(
        "<div class=\"grid card\" id=\"{id}\">{}{}{}{}</div>",
        stat(
            "events since the latest sync",
            &count(c.events_since_latest_sync)
        ),
        stat("refreshes pending", &count(c.refreshes_pending)),
        stat("refreshes failed", &count(c.refreshes_failed)),
        stat(
            "oldest pending refresh",
            &esc(oldest.as_deref().unwrap_or("–"))
        ),
    )
}

/// History: duration, records and requests of every sync over time, the syncs as a table,
/// and per stream the records of each complete sync, with a warning where a full read fell
/// by more than a tenth from the one before.
pub fn history(snap: &Snapshot) -> String {
    let mut out = String::from("<h1>History</h1>");
    let all = falls(&snap.complete);
    if !all.is_empty() {
        out.push_str("<div class=\"warning\" id=\"falls\"><b>Streams whose count fell by more than a tenth</b><ul>");
        for f in &all {
            let _ = write!(
                out,
                "<li class=\"fall\" data-stream=\"{0}\"><b>{0}</b>: {1} records in <code>{2}</code>, \
                 {3} in the full sync before (<code>{4}</code>)</li>",
                esc(&f.stream),
                count(f.records),
                esc(&f.sync_id),
                count(f.previous_records),
                esc(&f.previous_sync_id)
            );
        }
        out.push_str("</ul></div>");
    }
    let syncs: Vec<_> = snap.report.syncs.iter().rev().collect();
    let points = |value: &dyn Fn(&crate::ops::status::SyncStatus) -> f64| -> Vec<Point> {
        syncs
            .iter()
            .map(|s| Point {
                label: when(&s.started_at),
                value: value(s),
                class: s.state.to_string(),
            })
            .collect()
    };
    let _ = write!(
        out,
        "<div class=\"charts\"><div class=\"card\">{}</div><div class=\"card\">{}</div>\
         <div class=\"card\">{}</div></div>",
        chart(
            "chart-duration",
            "Duration",
            "seconds",
            &points(&|s| s.duration_seconds.unwrap_or(0.0))
        ),
        chart(
            "chart-records",
            "Records",
            "records",
            &points(&|s| s.records as f64)
        ),
        chart(
            "chart-requests",
            "Requests to Affinity",
            "requests",
            &points(&|s| s.tally.requests as f64)
        ),
    );
    out.push_str("<h2>Syncs, newest first</h2>");
    let rows: Vec<Vec<String>> = snap
        .report
        .syncs
        .iter()
        .map(|s| {
            vec![
                format!("<code>{}</code>", esc(&s.sync_id)),
                s.kind.to_string(),
                format!("<span class=\"badge {0}\">{0}</span>", s.state),
                esc(&when(&s.started_at)),
                seconds(s.duration_seconds),
                count(s.records),
                count(s.tally.requests),
                count(s.tally.throttled),
            ]
        })
        .collect();
    out.push_str(&table(
        "syncs",
        &[
            "sync",
            "kind",
            "state",
            "started",
            "#duration",
            "#records",
            "#requests",
            "#429s",
        ],
        &rows,
    ));
    // Streams down, the latest complete syncs across (at most twelve, oldest first).
    let shown = &snap.complete[snap.complete.len().saturating_sub(12)..];
    if !shown.is_empty() {
        out.push_str("<h2>Records per stream in each complete sync</h2>");
        let mut streams: Vec<&str> = vec![];
        for m in shown {
            for s in &m.streams {
                if !streams.contains(&s.stream.as_str()) {
                    streams.push(&s.stream);
                }
            }
        }
        let mut head: Vec<String> = vec!["stream".into()];
        head.extend(shown.iter().map(|m| format!("#{}", m.sync_id)));
        let rows: Vec<Vec<String>> = streams
            .iter()
            .map(|stream| {
                let mut row = vec![esc(stream)];
                for m in shown {
                    let cell = match m.streams.iter().find(|s| s.stream == *stream) {
                        None => String::new(),
                        Some(s) => {
                            let fell = all
                                .iter()
                                .find(|f| f.sync_id == m.sync_id && f.stream == *stream);
                            let n = count(s.records);
                            let n = if s.since.is_some() {
                                format!("<span title=\"changes only (incremental)\">+{n}</span>")
                            } else {
                                n
                            };
                            match fell {
                                Some(f) => format!(
                                    "<span class=\"fell\" title=\"fell from {}\">▼ {n}</span>",
                                    count(f.previous_records)
                                ),
                                None => n,
                            }
                        }
                    };
                    row.push(cell);
                }
                row
            })
            .collect();
        let head: Vec<&str> = head.iter().map(String::as_str).collect();
        out.push_str(&table("stream-history", &head, &rows));
        out.push_str(
            "<p class=\"note\">+n: an incremental sync's records (what changed). ▼: a full \
             read more than a tenth below the full read before it.</p>",
        );
    }
    out
}

/// Every table a sync writes, and the change tables.
fn all_tables() -> Vec<&'static Table> {
    let mut out: Vec<&'static Table> = STREAMS.iter().flat_map(|s| s.tables.iter()).collect();
    out.extend(affinity_sync_core::changes::tables());
    out
}

/// Tables: every table with its meaning, primary key, row count and columns (type and
/// meaning, as docs/streams.md), then the wide views.
pub fn tables(db: Option<&Db>) -> String {
    let mut out = String::from("<h1>Tables</h1>");
    if db.is_none() {
        out.push_str(&no_db("Row counts"));
    }
    let counts = |name: &str| -> Option<String> {
        let db = db?;
        if !db.has(name).ok()? {
            return Some("not loaded".into());
        }
        db.scalar(&format!("SELECT count(*) FROM \"{name}\""))
            .ok()
            .flatten()
            .map(|n| count(n.parse().unwrap_or(0)))
    };
    let rows: Vec<Vec<String>> = all_tables()
        .into_iter()
        .map(|t| {
            let columns: Vec<Vec<String>> = t
                .columns
                .iter()
                .map(|c| {
                    vec![
                        format!("<code>{}</code>", esc(c.name)),
                        esc(duckdb_type(c.ty)),
                        esc(c.doc),
                    ]
                })
                .collect();
            vec![
                format!("<code id=\"table-{0}\">{0}</code>", esc(t.name)),
                format!(
                    "<span class=\"rows\" data-table=\"{}\">{}</span>",
                    esc(t.name),
                    esc(&counts(t.name).unwrap_or_default())
                ),
                format!("<code>{}</code>", esc(&t.primary_key.join(", "))),
                format!(
                    "{}<details><summary>{} columns</summary>{}</details>",
                    esc(t.doc),
                    t.columns.len(),
                    table(
                        &format!("columns-{}", t.name),
                        &["column", "type", "meaning"],
                        &columns
                    )
                ),
            ]
        })
        .collect();
    out.push_str(&table(
        "tables",
        &["table", "#rows", "primary key", "what a row is"],
        &rows,
    ));
    if let Some(db) = db {
        out.push_str("<h2>Wide views: a column per field</h2>");
        let wide = db.run(
            "SELECT t.table_name, (SELECT count(*) FROM information_schema.columns c \
               WHERE c.table_name = t.table_name) FROM information_schema.tables t \
             WHERE t.table_type = 'VIEW' AND t.table_name LIKE '%\\_wide' ESCAPE '\\' \
             ORDER BY t.table_name",
            db::MAX_TIME,
        );
        match wide {
            Err(e) => out.push_str(&error_box("wide-error", &e)),
            Ok(r) => {
                let rows: Vec<Vec<String>> = r
                    .rows
                    .iter()
                    .map(|row| {
                        let sql = format!("SELECT * FROM \"{}\" LIMIT 20", row[0]);
                        vec![
                            format!(
                                "<a href=\"/data?sql={}\"><code>{}</code></a>",
                                url_encode(&sql),
                                esc(&row[0])
                            ),
                            esc(&row[1]),
                        ]
                    })
                    .collect();
                out.push_str(&table("wide-views", &["view", "#columns"], &rows));
            }
        }
    }
    out
}

/// Example queries for the Data view: (title, SQL).
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "Persons with a value in a field",
        "SELECT p.id, p.first_name, p.last_name, v.field_name, v.value_text\n\
         FROM persons p JOIN persons_field_values v ON v.entity_id = p.id\n\
         WHERE v.value_text IS NOT NULL\nORDER BY p.id, v.field_name\nLIMIT 50",
    ),
    (
        "Companies on a list",
        "SELECT l.name AS list, c.id, c.name, c.domain\n\
         FROM list_entries e\n  JOIN lists l ON l.id = e.list_id\n  \
         JOIN companies c ON c.id = e.entity_id\nWHERE e.type = 'company'\n\
         ORDER BY l.name, c.name\nLIMIT 50",
    ),
    (
        "Records per table",
        "SELECT table_name, estimated_size FROM duckdb_tables() ORDER BY table_name",
    ),
];

/// Data: a SQL box over the database, read only; its result, cut at a number of rows and
/// a time, or why the statement was refused.
pub fn data(db: Option<&Db>, sql: Option<&str>) -> String {
    let mut out = String::from("<h1>Data</h1>");
    let Some(db) = db else {
        out.push_str(&no_db("The data"));
        return out;
    };
    let sql = sql.unwrap_or(EXAMPLES[0].1);
    let _ = write!(
        out,
        "<form method=\"get\" action=\"/data\" class=\"card\"><textarea name=\"sql\" id=\"sql\" \
         spellcheck=\"false\">{}</textarea><br><button type=\"submit\" id=\"run\">Run</button> \
         <span class=\"note\">Read only: queries (SELECT, WITH, …) run; statements that \
         change the database or read files are refused. At most {} rows, {} s.</span></form>",
        esc(sql),
        db::MAX_ROWS,
        db::MAX_TIME.as_secs()
    );
    out.push_str("<p>Examples: ");
    let links: Vec<String> = EXAMPLES
        .iter()
        .map(|(title, q)| {
            format!(
                "<a class=\"example\" href=\"/data?sql={}\">{}</a>",
                url_encode(q),
                esc(title)
            )
        })
        .collect();
    out.push_str(&links.join(" · "));
    out.push_str("</p>");
    match db.query(sql) {
        Err(e) => out.push_str(&error_box("query-error", &e)),
        Ok(r) => {
            let _ = write!(
                out,
                "<p class=\"note\" id=\"result-note\">{} rows{} in {} ms</p>",
                count(r.rows.len() as u64),
                if r.truncated {
                    format!(" (the first {}; there are more)", db::MAX_ROWS)
                } else {
                    String::new()
                },
                r.elapsed.as_millis()
            );
            let head: Vec<&str> = r.columns.iter().map(String::as_str).collect();
            let rows: Vec<Vec<String>> = r
                .rows
                .iter()
                .map(|row| row.iter().map(|c| esc(c)).collect())
                .collect();
            out.push_str(&table("result", &head, &rows));
        }
    }
    out
}

/// "A value" in a field-values row: any of its value columns set.
const HAS_VALUE: &str = "(value_text IS NOT NULL OR value_number IS NOT NULL OR \
    value_datetime IS NOT NULL OR value_id IS NOT NULL OR value_ids IS NOT NULL OR \
    value_texts IS NOT NULL OR value_json IS NOT NULL)";

/// One coverage table: per field of `values` (filtered by `filter`), how many of `total`
/// records (keyed by `key`) have a value.
fn coverage(
    db: &Db,
    id: &str,
    values: &str,
    key: &str,
    filter: &str,
    total: u64,
) -> Result<String> {
    let r = db.run(
        &format!(
            "SELECT any_value(field_name), any_value(value_type), \
               count(DISTINCT {key}) FILTER (WHERE {HAS_VALUE}) AS n \
             FROM \"{values}\" WHERE {filter} GROUP BY field_id ORDER BY n DESC, 1"
        ),
        db::MAX_TIME,
    )?;
    let rows: Vec<Vec<String>> = r
        .rows
        .iter()
        .map(|row| {
            let n: u64 = row[2].parse().unwrap_or(0);
            let share = if total == 0 {
                0.0
            } else {
                n as f64 * 100.0 / total as f64
            };
            vec![
                esc(&row[0]),
                esc(&row[1]),
                count(n),
                format!(
                    "<span class=\"bar\"><span style=\"width:{share:.0}%\"></span></span> {share:.0}%"
                ),
            ]
        })
        .collect();
    Ok(table(
        id,
        &["field", "type", "#records with a value", "coverage"],
        &rows,
    ))
}

/// Fields: for persons, companies and each list, how many records have a value in each
/// field.
pub fn fields(db: Option<&Db>) -> String {
    let mut out = String::from("<h1>Fields</h1>");
    let Some(db) = db else {
        out.push_str(&no_db("Field coverage"));
        return out;
    };
    let total = |sql: &str| -> u64 {
        db.scalar(sql)
            .ok()
            .flatten()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    for (base, values) in [
        ("persons", "persons_field_values"),
        ("companies", "companies_field_values"),
    ] {
        if !(db.has(base).unwrap_or(false) && db.has(values).unwrap_or(false)) {
            continue;
        }
        let n = total(&format!("SELECT count(*) FROM \"{base}\""));
        let _ = write!(
            out,
            "<div class=\"card\"><h2>{base} <span class=\"note\">{} records</span></h2>",
            count(n)
        );
        match coverage(
            db,
            &format!("fields-{base}"),
            values,
            "entity_id",
            "true",
            n,
        ) {
            Ok(t) => out.push_str(&t),
            Err(e) => out.push_str(&error_box(&format!("fields-{base}-error"), &e)),
        }
        out.push_str("</div>");
    }
    let lists_loaded = ["lists", "list_entries", "list_entries_field_values"]
        .iter()
        .all(|t| db.has(t).unwrap_or(false));
    if lists_loaded {
        match db.run("SELECT id, name FROM lists ORDER BY name, id", db::MAX_TIME) {
            Err(e) => out.push_str(&error_box("lists-error", &e)),
            Ok(lists) => {
                for row in &lists.rows {
                    let (id, name) = (&row[0], &row[1]);
                    let Ok(list) = id.parse::<i64>() else {
                        continue;
                    };
                    let n = total(&format!(
                        "SELECT count(*) FROM list_entries WHERE list_id = {list}"
                    ));
                    let _ = write!(
                        out,
                        "<div class=\"card\"><h2>List {} <span class=\"note\">{} entries</span></h2>",
                        esc(name),
                        count(n)
                    );
                    match coverage(
                        db,
                        &format!("fields-list-{list}"),
                        "list_entries_field_values",
                        "list_entry_id",
                        &format!("list_id = {list}"),
                        n,
                    ) {
                        Ok(t) => out.push_str(&t),
                        Err(e) => out.push_str(&error_box("list-fields-error", &e)),
                    }
                    out.push_str("</div>");
                }
            }
        }
    }
    out
}

/// Changes: the webhook events the latest complete sync does not hold and the refreshes
/// waiting (from the store, as `status`), and the latest events as loaded in the database.
pub fn changes(snap: &Snapshot, db: Option<&Db>) -> String {
    let mut out = String::from("<h1>Changes</h1>");
    let c = &snap.report.changes;
    out.push_str(&change_counts(c, "change-counts"));
    if let Some(sync) = &c.latest_complete_sync {
        let _ = write!(
            out,
            "<p class=\"note\">Counted from the store, against the latest complete sync \
             <code>{}</code>. Loads apply them: <code>affinity-sync load duckdb</code>.</p>",
            esc(sync)
        );
    }
    let Some(db) = db else {
        out.push_str(&no_db("The list of events"));
        return out;
    };
    if !db.has("change_events").unwrap_or(false) {
        out.push_str("<p class=\"note\">No webhook events in the database.</p>");
        return out;
    }
    let since = snap
        .complete
        .last()
        .map(|m| m.started_at.replace('\'', ""))
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into());
    let margin = crate::ops::change_sql::CLOCK_SKEW_MINUTES;
    out.push_str("<h2>Latest events since the latest complete sync, as loaded</h2>");
    match db.run(
        &format!(
            "SELECT sent_at, type, object, action, entity_id, change_id FROM change_events \
             WHERE CAST(sent_at AS TIMESTAMP) >= CAST(CAST('{since}' AS TIMESTAMPTZ) AS TIMESTAMP) \
               - INTERVAL {margin} MINUTE \
             ORDER BY sent_at DESC LIMIT 100"
        ),
        db::MAX_TIME,
    ) {
        Err(e) => out.push_str(&error_box("events-error", &e)),
        Ok(r) if r.rows.is_empty() => out.push_str(
            "<p class=\"note\" id=\"no-events\">None in the database (a load applies the \
             events the store has).</p>",
        ),
        Ok(r) => {
            let rows: Vec<Vec<String>> = r
                .rows
                .iter()
                .map(|row| row.iter().map(|c| esc(c)).collect())
                .collect();
            out.push_str(&table(
                "events",
                &[
                    "sent at",
                    "type",
                    "object",
                    "action",
                    "#entity",
                    "change id",
                ],
                &rows,
            ));
        }
    }
    out
}
