//! What the v1 and v2 handlers share: the parsed request, API errors, time formats.

use serde_json::{Value as Json, json};
use std::ops::Range;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// One parsed request: path, decoded query pairs (repeats kept, order kept), and the
/// public base URL of the double (for v2 `nextUrl`s that point back at it).
pub struct Req<'a> {
    pub path: &'a str,
    pub query: Vec<(String, String)>,
    pub base_url: &'a str,
}

impl Req<'_> {
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name || k == &format!("{name}[]"))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn one(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn flag(&self, name: &str) -> bool {
        matches!(self.one(name), Some("true" | "1"))
    }

    /// The query minus the named keys, re-encoded in request order.
    pub fn query_without(&self, drop: &[&str]) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.query {
            if !drop.contains(&k.as_str()) {
                out.append_pair(k, v);
            }
        }
        out.finish()
    }
}

/// An error response: the status and the `{"errors": [...]}` body of the v2 spec
/// (v1 documents only status codes; the double answers v1 errors in the same shape).
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub param: Option<String>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            param: None,
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not-found", message)
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad-request", message)
    }
    /// A v2 parameter validation error (400, `validation`, names the parameter).
    pub fn validation(param: &str, message: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            code: "validation",
            message: message.into(),
            param: Some(param.into()),
        }
    }
    /// v1's answer to malformed parameters.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(422, "validation", message)
    }

    pub fn body(&self) -> Json {
        let mut e = json!({ "code": self.code, "message": self.message });
        if let Some(p) = &self.param {
            e["param"] = json!(p);
        }
        json!({ "errors": [e] })
    }
}

pub type Reply = Result<Json, ApiError>;

/// Parses an integer parameter, or fails naming it.
pub fn int_param(req: &Req, name: &str, v2: bool) -> Result<Option<i64>, ApiError> {
    match req.one(name) {
        None => Ok(None),
        Some(s) => s.parse::<i64>().map(Some).map_err(|_| {
            let msg = format!("{name} must be an integer, got {s:?}");
            if v2 {
                ApiError::validation(name, msg)
            } else {
                ApiError::unprocessable(msg)
            }
        }),
    }
}

/// The slice of `total` records a page covers.
pub fn window(offset: usize, limit: usize, total: usize) -> Range<usize> {
    offset.min(total)..(offset + limit).min(total)
}

/// v2 timestamps: RFC 3339 in UTC (`2023-01-01T00:00:00Z`).
pub fn v2_time(ms: i64) -> Json {
    let t = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).expect("valid time");
    json!(t.format(&Rfc3339).expect("formattable"))
}

/// v1 timestamps: ISO 8601 with milliseconds and the account's UTC offset
/// (`2017-05-04T10:44:31.526-08:00`), as in every v1 example.
pub fn v1_time(ms: i64) -> Json {
    let offset = time::UtcOffset::from_hms(-8, 0, 0).expect("offset");
    let t = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .expect("valid time")
        .to_offset(offset);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3][offset_hour sign:mandatory]:[offset_minute]"
    );
    json!(t.format(&fmt).expect("formattable"))
}

pub fn opt_time(ms: Option<i64>, f: fn(i64) -> Json) -> Json {
    ms.map(f).unwrap_or(Json::Null)
}

/// Parses an ISO 8601 / RFC 3339 parameter to epoch milliseconds. Dates without a time
/// mean midnight UTC, and times without an offset are UTC, as v1 documents.
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim().trim_matches('"');
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let with_z = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        format!("{s}Z")
    };
    OffsetDateTime::parse(&with_z, &Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// A number as JSON: integral values print without a fraction, like Affinity's examples.
pub fn num(x: f64) -> Json {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_formats_match_the_docs() {
        assert_eq!(v2_time(1_672_531_200_000), json!("2023-01-01T00:00:00Z"));
        assert_eq!(
            v1_time(1_672_531_200_123),
            json!("2022-12-31T16:00:00.123-08:00")
        );
        assert_eq!(parse_time("2023-01-01"), Some(1_672_531_200_000));
        assert_eq!(parse_time("2023-01-01T00:00:00"), Some(1_672_531_200_000));
        assert_eq!(
            parse_time("2022-12-31T16:00:00.123-08:00"),
            Some(1_672_531_200_123)
        );
        assert_eq!(parse_time("yesterday"), None);
    }
}
