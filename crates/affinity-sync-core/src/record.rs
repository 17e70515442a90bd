//! Records as the step reads them: a page parsed once into JSON values that borrow their
//! strings from the page body.
//!
//! Turning a page into rows is the hottest path of a sync, and parsing was half of it with
//! `serde_json::Value` (an owned `String` for every key and string, a `BTreeMap` for every
//! object). simd-json parses the same page in less than half the time into
//! [`Value`]s whose strings point into the body (only strings with escapes are copied) and
//! whose objects are small vectors. The rest of the core reads records through this type and
//! the traits of [`simd_json::prelude`].
//!
//! simd-json picks its SIMD implementation at run time (AVX2, SSE4.2, NEON, or portable
//! code, which is what `wasm32-wasip2` gets), so one build runs everywhere.

use simd_json::StaticNode;
use simd_json::prelude::*;

/// A JSON value of a page; `'a` is the page body it borrows from.
pub type Value<'a> = simd_json::BorrowedValue<'a>;

/// A null to borrow where a record has no value.
pub static NULL: Value<'static> = Value::Static(StaticNode::Null);

/// Parses a page body. simd-json parses in place (it unescapes strings into the buffer), so
/// it takes the body mutably; the values borrow from it.
pub fn parse(body: &mut [u8]) -> Result<Value<'_>, String> {
    simd_json::to_borrowed_value(body).map_err(|e| e.to_string())
}

/// A value made elsewhere (a webhook event built with `serde_json::json!`, a refreshed
/// record) as a record.
pub fn from_serde(v: serde_json::Value) -> Value<'static> {
    Value::try_from(v).expect("every serde_json value is a JSON value")
}

/// The value at a JSON pointer (`/entity/id`, `/value/data/0`), without allocating: the
/// catalog's pointers (`/a/b`) have no escaped `~` or `/`, and this runs for every cell of
/// every row.
pub fn at<'v, 'a>(row: &'v Value<'a>, pointer: &str) -> Option<&'v Value<'a>> {
    let mut v = row;
    for token in pointer.split('/').skip(1) {
        let token = unescape(token);
        v = match v {
            Value::Object(m) => m.get(token.as_ref())?,
            Value::Array(a) => a.get(token.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

/// RFC 6901: `~1` is `/`, `~0` is `~`.
fn unescape(token: &str) -> std::borrow::Cow<'_, str> {
    if token.contains('~') {
        token.replace("~1", "/").replace("~0", "~").into()
    } else {
        token.into()
    }
}

/// Compact JSON text of a value (what JSON columns hold), object keys in sorted order: the
/// same bytes whatever order the API sent the keys in (and as `serde_json` writes them, so
/// batches from before simd-json read the same).
pub fn text(v: &Value) -> String {
    let mut out = Vec::with_capacity(64);
    write_text(v, &mut out);
    String::from_utf8(out).expect("JSON text is UTF-8")
}

/// [`text`], appended to `out`: for writers that keep one buffer for many values.
pub fn write_text(v: &Value, out: &mut Vec<u8>) {
    write(v, out)
}

fn write(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Static(StaticNode::Null) => out.extend_from_slice(b"null"),
        Value::Static(StaticNode::Bool(b)) => {
            out.extend_from_slice(if *b { b"true" } else { b"false" })
        }
        // serde_json's number text (itoa, ryu), as before.
        Value::Static(StaticNode::I64(n)) => serde_json::to_writer(&mut *out, n).expect("memory"),
        Value::Static(StaticNode::U64(n)) => serde_json::to_writer(&mut *out, n).expect("memory"),
        Value::Static(StaticNode::F64(f)) => serde_json::to_writer(&mut *out, f).expect("memory"),
        Value::String(s) => serde_json::to_writer(&mut *out, s.as_ref()).expect("memory"),
        Value::Array(items) => {
            out.push(b'[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(x, out);
            }
            out.push(b']');
        }
        // Sorted on the stack: this runs for every JSON cell of a page (field values are
        // small objects), and a heap vector per object was a tenth of the page's time.
        Value::Object(m) if m.len() <= SMALL => {
            let mut entries = [("", &NULL); SMALL];
            for (slot, (k, x)) in entries.iter_mut().zip(m.iter()) {
                *slot = (k.as_ref(), x);
            }
            write_sorted(&mut entries[..m.len()], out);
        }
        Value::Object(m) => {
            let mut entries: Vec<(&str, &Value)> = m.iter().map(|(k, x)| (k.as_ref(), x)).collect();
            write_sorted(&mut entries, out);
        }
    }
}

/// Objects up to this many keys are sorted without allocating.
const SMALL: usize = 16;

fn write_sorted(entries: &mut [(&str, &Value)], out: &mut Vec<u8>) {
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push(b'{');
    for (i, (k, x)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, k).expect("memory");
        out.push(b':');
        write(x, out);
    }
    out.push(b'}');
}

/// An array of values.
pub fn array<'a>(items: Vec<Value<'a>>) -> Value<'a> {
    Value::Array(Box::new(items))
}

/// A record written as `serde_json::json!`, for tests: `rec!({"id": 1})`.
#[cfg(test)]
macro_rules! rec {
    ($($json:tt)+) => {
        $crate::record::from_serde(serde_json::json!($($json)+))
    };
}
#[cfg(test)]
pub(crate) use rec;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_parse_borrowed_and_read_like_serde_json() {
        let mut body =
            br#"{"a": {"b": [10, {"c~d/e": "x\u00e9"}]}, "n": 1.5, "s": "plain"}"#.to_vec();
        let v = parse(&mut body).unwrap();
        assert_eq!(at(&v, "/a/b/0").and_then(|x| x.as_i64()), Some(10));
        assert_eq!(
            at(&v, "/a/b/1/c~0d~1e").and_then(|x| x.as_str()),
            Some("xé")
        );
        assert!(at(&v, "/a/missing").is_none());
        assert!(at(&v, "/n/0").is_none());
        assert!(matches!(
            v.get("s"),
            Some(Value::String(std::borrow::Cow::Borrowed(_)))
        ));
        assert_eq!(
            text(&v),
            serde_json::from_str::<serde_json::Value>(
                r#"{"a": {"b": [10, {"c~d/e": "xé"}]}, "n": 1.5, "s": "plain"}"#
            )
            .unwrap()
            .to_string()
        );
        let same = from_serde(serde_json::json!({"n": 1.5, "k": [null, true]}));
        assert_eq!(text(&same), r#"{"k":[null,true],"n":1.5}"#, "keys sorted");
        // Past 32 keys an object is a hash map: its text is sorted all the same.
        let keys: Vec<String> = (0..40).rev().map(|i| format!(r#""k{i:02}":{i}"#)).collect();
        let mut wide = format!("{{{}}}", keys.join(",")).into_bytes();
        let sorted: Vec<String> = (0..40).map(|i| format!(r#""k{i:02}":{i}"#)).collect();
        assert_eq!(
            text(&parse(&mut wide).unwrap()),
            format!("{{{}}}", sorted.join(","))
        );
        assert!(parse(&mut br#"{"a": 1"#.to_vec()).is_err());
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_as_serde_json_does() {
        let mut body = br#"{"id": 1, "id": 2}"#.to_vec();
        let v = parse(&mut body).unwrap();
        assert_eq!(v.get("id").and_then(|x| x.as_i64()), Some(2));
        assert_eq!(v.as_object().map(|o| o.len()), Some(1));
    }
}
