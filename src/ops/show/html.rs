//! The page around every view (the navigation, the styles, embedded: the page loads nothing
//! from the network), and what the views are drawn with: escaped text, tables, and charts
//! as SVG drawn here, so no chart library is needed.

use std::fmt::Write;

/// The views, in the navigation's order: (path, title).
pub const VIEWS: &[(&str, &str)] = &[
    ("/", "Overview"),
    ("/history", "History"),
    ("/tables", "Tables"),
    ("/data", "Data"),
    ("/fields", "Fields"),
    ("/changes", "Changes"),
];

const STYLE: &str = r#"
:root { --ink: #1d2430; --muted: #5d6878; --line: #dde2ea; --bg: #f6f7f9; --card: #fff;
  --accent: #2f5bd3; --ok: #1f8a4c; --warn: #b35c00; --bad: #c0392b; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: var(--bg); }
header { background: #18202c; color: #fff; padding: 10px 24px; display: flex; gap: 24px;
  align-items: center; flex-wrap: wrap; }
header .brand { font-weight: 700; font-size: 16px; }
header .store { color: #aeb8c6; font-family: ui-monospace, monospace; font-size: 12px; }
nav { display: flex; gap: 4px; }
nav a { color: #cfd6e0; text-decoration: none; padding: 6px 12px; border-radius: 6px; }
nav a.current, nav a:hover { background: #2d3a4f; color: #fff; }
main { padding: 20px 24px 40px; max-width: 1280px; }
h1 { font-size: 20px; margin: 0 0 14px; }
h2 { font-size: 15px; margin: 22px 0 8px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  padding: 14px 16px; margin-bottom: 14px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 10px; }
.stat .label { color: var(--muted); font-size: 12px; }
.stat .value { font-size: 17px; font-weight: 600; }
.badge { display: inline-block; padding: 2px 8px; border-radius: 10px; font-size: 12px;
  font-weight: 600; color: #fff; background: var(--muted); }
.badge.complete, .badge.ok { background: var(--ok); }
.badge.running { background: var(--accent); }
.badge.stopped, .badge.attention { background: var(--bad); }
.warning { border-left: 4px solid var(--warn); background: #fff6ea; padding: 10px 14px;
  border-radius: 6px; margin-bottom: 12px; }
.error { border-left: 4px solid var(--bad); background: #fdeeee; padding: 10px 14px;
  border-radius: 6px; margin-bottom: 12px; }
.note { color: var(--muted); }
table { border-collapse: collapse; width: 100%; background: var(--card); }
th, td { text-align: left; padding: 5px 10px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600; background: #fafbfc; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.fell { color: var(--warn); font-weight: 700; }
td details { margin-top: 4px; }
code, pre, textarea { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; }
pre.cmd { background: #18202c; color: #e8edf3; padding: 8px 12px; border-radius: 6px;
  overflow-x: auto; }
textarea { width: 100%; min-height: 110px; padding: 8px; border: 1px solid var(--line);
  border-radius: 6px; }
button { background: var(--accent); color: #fff; border: 0; border-radius: 6px;
  padding: 7px 16px; font-weight: 600; cursor: pointer; margin-top: 6px; }
.bar { background: #e8ecf3; border-radius: 4px; height: 10px; width: 160px; display: inline-block;
  vertical-align: middle; }
.bar span { display: block; height: 10px; border-radius: 4px; background: var(--accent); }
.scroll { overflow-x: auto; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 12px; }
svg text { font: 11px system-ui, sans-serif; fill: var(--muted); }
svg .line { fill: none; stroke: var(--accent); stroke-width: 2; }
svg .point { fill: var(--accent); }
svg .point.stopped { fill: var(--bad); }
svg .point.running { fill: #8aa4ea; }
svg .axis { stroke: var(--line); }
details summary { cursor: pointer; }
"#;

/// `text` safe inside HTML, attribute values included.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` as a URL query value.
pub fn url_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// The whole page: the navigation with `path` current, `store` named, then `body`.
pub fn page(path: &str, store: &str, body: &str) -> String {
    let title = VIEWS
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, t)| *t)
        .unwrap_or("affinity-sync");
    let nav: String = VIEWS
        .iter()
        .map(|(p, t)| {
            let current = if *p == path { " class=\"current\"" } else { "" };
            format!("<a href=\"{p}\"{current}>{t}</a>")
        })
        .collect();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · affinity-sync</title><style>{STYLE}</style></head>\
         <body><header><span class=\"brand\">affinity-sync</span><nav>{nav}</nav>\
         <span class=\"store\">{}</span></header><main>{body}</main></body></html>\n",
        esc(store)
    )
}

/// A table: `head` names the columns (a leading `#` right-aligns one: a number), `rows`
/// are HTML cells already escaped, `id` names it for links and tests.
pub fn table(id: &str, head: &[&str], rows: &[Vec<String>]) -> String {
    let numeric: Vec<bool> = head.iter().map(|h| h.starts_with('#')).collect();
    let mut out = format!("<div class=\"scroll\"><table id=\"{id}\"><thead><tr>");
    for (h, num) in head.iter().zip(&numeric) {
        let class = if *num { " class=\"num\"" } else { "" };
        let _ = write!(out, "<th{class}>{}</th>", esc(h.trim_start_matches('#')));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let class = if numeric.get(i).copied().unwrap_or(false) {
                " class=\"num\""
            } else {
                ""
            };
            let _ = write!(out, "<td{class}>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

/// `n` with thousands separated, as `status` prints it.
pub fn count(n: u64) -> String {
    crate::ops::status::thousands(n)
}

/// One point of a chart: its label (shown on hover), value, and a class (`complete`, ...).
pub struct Point {
    pub label: String,
    pub value: f64,
    pub class: String,
}

/// A line chart of `points` in order, titled `title`, values in `unit`: one circle (class
/// `point`) per point, with the value on hover.
pub fn chart(id: &str, title: &str, unit: &str, points: &[Point]) -> String {
    let (w, h) = (400.0, 200.0);
    let (left, right, top, bottom) = (46.0, 12.0, 26.0, 28.0);
    let max = points.iter().map(|p| p.value).fold(0.0_f64, f64::max);
    let (max, steps) = if max > 0.0 { nice(max) } else { (1.0, 4) };
    let x = |i: usize| {
        if points.len() <= 1 {
            left + (w - left - right) / 2.0
        } else {
            left + (w - left - right) * i as f64 / (points.len() - 1) as f64
        }
    };
    let y = |v: f64| top + (h - top - bottom) * (1.0 - v / max);
    let mut svg = format!(
        "<svg id=\"{id}\" viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-label=\"{}\">\
         <text x=\"{left}\" y=\"15\" style=\"font-weight:600;fill:#1d2430\">{}</text>",
        esc(title),
        esc(title)
    );
    for k in 0..=steps {
        let v = max * k as f64 / steps as f64;
        let _ = write!(
            svg,
            "<line class=\"axis\" x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            w - right,
            left - 6.0,
            y(v) + 4.0,
            esc(&short(v)),
            y = y(v)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
        w - right,
        h - 8.0,
        esc(unit)
    );
    if points.len() > 1 {
        let line: Vec<String> = points
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(p.value)))
            .collect();
        let _ = write!(
            svg,
            "<polyline class=\"line\" points=\"{}\"/>",
            line.join(" ")
        );
    }
    for (i, p) in points.iter().enumerate() {
        let _ = write!(
            svg,
            "<circle class=\"point {}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\"><title>{}: {} {}</title></circle>",
            esc(&p.class),
            x(i),
            y(p.value),
            esc(&p.label),
            esc(&short(p.value)),
            esc(unit)
        );
    }
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let _ = write!(
            svg,
            "<text x=\"{left}\" y=\"{}\">{}</text>",
            h - 8.0,
            esc(&first.label)
        );
        if points.len() > 1 {
            let _ = write!(
                svg,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" dx=\"-60\">{}</text>",
                w - right,
                h - 8.0,
                esc(&last.label)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// A round axis top at or above `v` (1, 2, 2.5 or 5 times a power of ten) and the number
/// of gridline steps that keeps every step round too.
fn nice(v: f64) -> (f64, u32) {
    let p = 10f64.powf(v.log10().floor());
    [(1.0, 4), (2.0, 4), (2.5, 5), (5.0, 5), (10.0, 4)]
        .iter()
        .map(|&(m, steps)| (m * p, steps))
        .find(|(c, _)| *c >= v)
        .unwrap_or((10.0 * p, 4))
}

/// `v` short: 1234567 as 1.2M, 0.5 as 0.5.
fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_numbers_read_well() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(url_encode("SELECT 'a b';"), "SELECT%20%27a%20b%27%3B");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(12), "12");
        assert_eq!(
            (nice(7.0), nice(180.0), nice(2100.0)),
            ((10.0, 4), (200.0, 4), (2500.0, 5))
        );
        assert_eq!(
            (short(0.25), short(0.5), short(12000.0)),
            ("0.25".into(), "0.5".into(), "12k".into())
        );
    }

    #[test]
    fn a_chart_has_a_point_per_value() {
        let points: Vec<Point> = (0..3)
            .map(|i| Point {
                label: format!("sync {i}"),
                value: i as f64 * 10.0,
                class: "complete".into(),
            })
            .collect();
        let svg = chart("c", "Records", "records", &points);
        assert_eq!(svg.matches("<circle class=\"point complete\"").count(), 3);
        assert!(svg.contains("<title>sync 2: 20 records</title>"));
    }
}
