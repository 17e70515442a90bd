//! Page tokens: v2 cursors and v1 `page_token`s.
//!
//! Both are opaque base64 to clients, as in Affinity. Inside, each carries the offset of the
//! next record and a fingerprint of what it was issued for, so a cursor replayed against
//! another endpoint (v2) or with other query parameters (v1: "each request must have
//! identical query parameters other than the changing page_token") is refused as it would
//! be by Affinity.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use std::hash::{DefaultHasher, Hash, Hasher};

fn fingerprint(parts: &[&str]) -> u64 {
    // DefaultHasher::new() uses fixed keys, so fingerprints are stable across runs.
    let mut h = DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

/// A v2 cursor for `offset` on `path` (`after` for next pages, `before` for previous ones).
pub fn v2_cursor(path: &str, offset: usize, after: bool) -> String {
    let dir = if after { "after" } else { "before" };
    let raw = format!("      {dir}:::{offset}:::{:x}", fingerprint(&[path]));
    URL_SAFE_NO_PAD.encode(raw)
}

/// Reads a v2 cursor back; `None` when malformed or issued for another path.
pub fn v2_offset(path: &str, cursor: &str) -> Option<usize> {
    let raw = URL_SAFE_NO_PAD.decode(cursor.trim_end_matches('=')).ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let mut parts = raw.trim_start().split(":::");
    let _dir = parts.next().filter(|d| *d == "after" || *d == "before")?;
    let offset = parts.next()?.parse().ok()?;
    let fp = parts.next()?;
    if parts.next().is_some() || fp != format!("{:x}", fingerprint(&[path])) {
        return None;
    }
    Some(offset)
}

/// A v1 `next_page_token`: base64 JSON, like Affinity's `eyJ...` tokens.
pub fn v1_token(path: &str, params: &str, page_size: usize, offset: usize) -> String {
    let raw = format!(
        "{{\"params\":\"{:x}\",\"page_size\":{page_size},\"offset\":{offset}}}",
        fingerprint(&[path, params])
    );
    STANDARD.encode(raw)
}

/// Reads a v1 token back; `None` when malformed or issued for other parameters.
pub fn v1_offset(path: &str, params: &str, token: &str) -> Option<usize> {
    let raw = STANDARD.decode(token).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&raw).ok()?;
    if v.get("params")?.as_str()? != format!("{:x}", fingerprint(&[path, params])) {
        return None;
    }
    usize::try_from(v.get("offset")?.as_u64()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_stay_on_their_path() {
        let c = v2_cursor("/v2/persons", 300, true);
        assert_eq!(v2_offset("/v2/persons", &c), Some(300));
        assert_eq!(v2_offset("/v2/companies", &c), None);
        assert_eq!(v2_offset("/v2/persons", "not-a-cursor!"), None);
        assert_eq!(v2_offset("/v2/persons", ""), None);
    }

    #[test]
    fn page_tokens_are_bound_to_their_parameters() {
        let t = v1_token("/persons", "with_interaction_dates=true", 500, 1000);
        assert!(t.starts_with("eyJ"));
        assert_eq!(
            v1_offset("/persons", "with_interaction_dates=true", &t),
            Some(1000)
        );
        assert_eq!(v1_offset("/persons", "", &t), None);
        assert_eq!(v1_offset("/persons", "", "garbage"), None);
    }
}
