//! Records as the step reads them: a page parsed once into simd-json's tape, read through
//! [`Value`], a view of one value on it.
//!
//! Turning a page into rows is the hottest path of a sync. A tree of values (serde_json's,
//! or simd-json's borrowed one) costs an allocation for every object and array of the page
//! and as many frees when it is dropped: for a v2 persons page with field data (about 0.6 MB,
//! tens of thousands of small objects) building and dropping the tree took longer than
//! locating the values did. The tape is one vector of nodes, in document order: a string
//! borrows its text from the page body (simd-json unescapes strings in place), a number or
//! literal is stored inline, and an object or array records how many nodes follow it, so a
//! reader skips a whole subtree in one step. Nothing is allocated per value, and nothing is
//! freed but the one vector.
//!
//! simd-json picks its SIMD implementation at run time (AVX2, SSE4.2, NEON, or portable
//! code, which is what `wasm32-wasip2` gets), so one build runs everywhere.

use simd_json::{Node, StaticNode};

/// A parsed page: every value of the body, in document order. [`root`] reads it.
pub type Tape<'a> = simd_json::tape::Tape<'a>;

/// One JSON value on a [`Tape`]: its node and the nodes of everything inside it. Copying
/// one copies a slice reference; `'a` is the page (tape and body) it reads.
#[derive(Clone, Copy, Debug)]
pub struct Value<'a>(&'a [Node<'a>]);

/// A null to read where a record has no value.
pub const NULL: Value<'static> = Value(&[Node::Static(StaticNode::Null)]);

/// Parses a page body. simd-json parses in place (it unescapes strings into the buffer), so
/// it takes the body mutably; the tape borrows from it.
pub fn parse(body: &mut [u8]) -> Result<Tape<'_>, String> {
    simd_json::to_tape(body).map_err(|e| e.to_string())
}

/// The value of a whole parsed body.
pub fn root<'t>(tape: &'t Tape<'_>) -> Value<'t> {
    Value(&tape.0)
}

/// Nodes in a value whose head is `node`, the head included.
fn size(node: &Node) -> usize {
    match node {
        Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
        _ => 1,
    }
}

impl<'a> Value<'a> {
    fn head(&self) -> &'a Node<'a> {
        &self.0[0]
    }

    pub fn is_null(&self) -> bool {
        matches!(self.head(), Node::Static(StaticNode::Null))
    }

    pub fn is_str(&self) -> bool {
        matches!(self.head(), Node::String(_))
    }

    pub fn is_object(&self) -> bool {
        matches!(self.head(), Node::Object { .. })
    }

    pub fn is_array(&self) -> bool {
        matches!(self.head(), Node::Array { .. })
    }

    /// A string's text (borrowed from the page).
    pub fn as_str(&self) -> Option<&'a str> {
        match self.head() {
            Node::String(s) => Some(s),
            _ => None,
        }
    }

    /// An integer that fits 64 bits (not a float, even a whole one).
    pub fn as_i64(&self) -> Option<i64> {
        match self.head() {
            Node::Static(StaticNode::I64(n)) => Some(*n),
            Node::Static(StaticNode::U64(n)) => i64::try_from(*n).ok(),
            _ => None,
        }
    }

    /// Any number, as a float.
    pub fn as_f64(&self) -> Option<f64> {
        match self.head() {
            Node::Static(StaticNode::I64(n)) => Some(*n as f64),
            Node::Static(StaticNode::U64(n)) => Some(*n as f64),
            Node::Static(StaticNode::F64(f)) => Some(*f),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.head() {
            Node::Static(StaticNode::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// The items of an array.
    pub fn items(&self) -> Option<Items<'a>> {
        match self.head() {
            Node::Array { len, .. } => Some(Items {
                rest: &self.0[1..],
                left: *len,
            }),
            _ => None,
        }
    }

    /// The keys and values of an object, in the order the page has them (a repeated key
    /// comes as often as it was sent; [`Value::get`] reads its last value).
    pub fn entries(&self) -> Option<Entries<'a>> {
        match self.head() {
            Node::Object { len, .. } => Some(Entries {
                rest: &self.0[1..],
                left: *len,
            }),
            _ => None,
        }
    }

    /// [`Value::entries`], or none when the value is not an object: for loops on the hot
    /// path (an `Option` flattened into the loop cost a branch per entry).
    pub fn entries_or_empty(&self) -> Entries<'a> {
        self.entries().unwrap_or(Entries { rest: &[], left: 0 })
    }

    /// [`Value::items`], or none when the value is not an array.
    pub fn items_or_empty(&self) -> Items<'a> {
        self.items().unwrap_or(Items { rest: &[], left: 0 })
    }

    /// The value of `key` in an object. A repeated key keeps its last value, as serde_json
    /// reads it.
    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        // An index walk over the keys (each value skipped whole), comparing lengths and first
        // bytes before calling memcmp: this runs for every column of every row.
        let Node::Object { len, .. } = self.head() else {
            return None;
        };
        let (nodes, mut i, mut found) = (self.0, 1, None);
        for _ in 0..*len {
            let (Some(Node::String(k)), Some(head)) = (nodes.get(i), nodes.get(i + 1)) else {
                break;
            };
            let end = i + 1 + size(head);
            if k.len() == key.len() && k.as_bytes().first() == key.as_bytes().first() && *k == key {
                found = nodes.get(i + 1..end).map(Value);
            }
            i = end;
        }
        found
    }

    /// The value at a JSON pointer (`/entity/id`, `/value/data/0`).
    pub fn at(&self, pointer: &str) -> Option<Value<'a>> {
        let mut v = *self;
        for token in pointer.split('/').skip(1) {
            let token = unescape(token);
            v = match v.head() {
                Node::Object { .. } => v.get(&token)?,
                Node::Array { .. } => v.items()?.nth(token.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(v)
    }
}

/// The items of an array value ([`Value::items`]).
#[derive(Clone)]
pub struct Items<'a> {
    rest: &'a [Node<'a>],
    left: usize,
}

impl<'a> Iterator for Items<'a> {
    type Item = Value<'a>;
    fn next(&mut self) -> Option<Value<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let (item, rest) = self.rest.split_at(size(self.rest.first()?));
        self.rest = rest;
        Some(Value(item))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Items<'_> {}

/// The entries of an object value ([`Value::entries`]).
#[derive(Clone)]
pub struct Entries<'a> {
    rest: &'a [Node<'a>],
    left: usize,
}

impl<'a> Iterator for Entries<'a> {
    type Item = (&'a str, Value<'a>);
    fn next(&mut self) -> Option<(&'a str, Value<'a>)> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let (Node::String(key), rest) = self.rest.split_first()? else {
            return None;
        };
        let (value, rest) = rest.split_at(size(rest.first()?));
        self.rest = rest;
        Some((key, Value(value)))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
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
/// same bytes whatever order the API sent the keys in, and the same bytes serde_json writes
/// for the value (so batches written before the tape read the same).
pub fn text(v: Value) -> String {
    let mut out = Vec::with_capacity(64);
    write_text(v, &mut out);
    String::from_utf8(out).expect("JSON text is UTF-8")
}

/// [`text`], appended to `out`: for writers that keep one buffer for many values.
pub fn write_text(v: Value, out: &mut Vec<u8>) {
    match v.head() {
        Node::Static(StaticNode::Null) => out.extend_from_slice(b"null"),
        Node::Static(StaticNode::Bool(b)) => {
            out.extend_from_slice(if *b { b"true" } else { b"false" })
        }
        // serde_json's number text (itoa, ryu), as before.
        Node::Static(StaticNode::I64(n)) => serde_json::to_writer(&mut *out, n).expect("memory"),
        Node::Static(StaticNode::U64(n)) => serde_json::to_writer(&mut *out, n).expect("memory"),
        Node::Static(StaticNode::F64(f)) => serde_json::to_writer(&mut *out, f).expect("memory"),
        Node::String(s) => write_str(s, out),
        Node::Array { .. } => {
            out.push(b'[');
            for (i, x) in v.items_or_empty().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_text(x, out);
            }
            out.push(b']');
        }
        // Keys already in order, none repeated (what serde_json and most APIs send): written
        // as they come, checked in one pass over the keys, with nothing copied or sorted.
        Node::Object { .. } if keys_ascending(v) => {
            out.push(b'{');
            for (i, (k, x)) in v.entries_or_empty().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(k, out);
                out.push(b':');
                write_text(x, out);
            }
            out.push(b'}');
        }
        // Sorted on the stack: this runs for every JSON cell of a page (field values are
        // small objects), and a heap vector per object was a tenth of the page's time.
        Node::Object { len, .. } if *len <= SMALL => {
            let mut entries = [("", NULL); SMALL];
            for (slot, entry) in entries.iter_mut().zip(v.entries_or_empty()) {
                *slot = entry;
            }
            write_sorted(&mut entries[..*len], out);
        }
        Node::Object { .. } => {
            let mut entries: Vec<(&str, Value)> = v.entries_or_empty().collect();
            write_sorted(&mut entries, out);
        }
    }
}

/// Whether an object's keys are strictly ascending: sorted, and none repeated.
fn keys_ascending(v: Value) -> bool {
    let mut entries = v.entries_or_empty();
    let Some((mut prev, _)) = entries.next() else {
        return true;
    };
    for (k, _) in entries {
        if k <= prev {
            return false;
        }
        prev = k;
    }
    true
}

/// Objects up to this many keys are sorted without allocating.
const SMALL: usize = 16;

/// Writes an object's entries sorted by key; of a repeated key only the last value, as
/// [`Value::get`] reads it.
fn write_sorted(entries: &mut [(&str, Value)], out: &mut Vec<u8>) {
    // Stable, so the values of a repeated key stay in page order. Most objects arrive
    // sorted (serde_json writes maps that way), and a stable sort checks that in one pass.
    entries.sort_by(|a, b| a.0.cmp(b.0));
    out.push(b'{');
    let mut first = true;
    for (i, (k, x)) in entries.iter().enumerate() {
        if entries.get(i + 1).is_some_and(|next| next.0 == *k) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        write_str(k, out);
        out.push(b':');
        write_text(*x, out);
    }
    out.push(b'}');
}

/// A JSON string: as is between quotes when nothing in it needs escaping (nearly every
/// string of a page), else serde_json's escapes.
pub(crate) fn write_str(s: &str, out: &mut Vec<u8>) {
    // A fold rather than `all`: no early exit, so it runs as SIMD over the bytes.
    let plain = s
        .bytes()
        .fold(true, |ok, b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\'));
    if plain {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, s).expect("memory");
    }
}

/// `v` parsed onto a tape that lives as long as the program: for tests, which build
/// records with `serde_json::json!`.
#[cfg(test)]
pub(crate) fn leaked(v: serde_json::Value) -> Value<'static> {
    let body: &'static mut [u8] = serde_json::to_vec(&v).expect("json").leak();
    let tape: &'static Tape<'static> = Box::leak(Box::new(parse(body).expect("valid json")));
    root(tape)
}

/// A record written as `serde_json::json!`, for tests: `rec!({"id": 1})`.
#[cfg(test)]
macro_rules! rec {
    ($($json:tt)+) => {
        $crate::record::leaked(serde_json::json!($($json)+))
    };
}
#[cfg(test)]
pub(crate) use rec;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_parse_onto_a_tape_and_read_like_serde_json() {
        let mut body =
            br#"{"a": {"b": [10, {"c~d/e": "x\u00e9"}]}, "n": 1.5, "s": "plain", "q": "a\"b\n"}"#
                .to_vec();
        let tape = parse(&mut body).unwrap();
        let v = root(&tape);
        assert_eq!(v.at("/a/b/0").and_then(|x| x.as_i64()), Some(10));
        assert_eq!(v.at("/a/b/1/c~0d~1e").and_then(|x| x.as_str()), Some("xé"));
        assert!(v.at("/a/missing").is_none());
        assert!(v.at("/n/0").is_none());
        assert!(v.at("/a/b/2").is_none());
        assert_eq!(v.get("n").and_then(|x| x.as_f64()), Some(1.5));
        assert_eq!(v.get("n").and_then(|x| x.as_i64()), None);
        assert_eq!(
            v.at("/a/b").and_then(|x| x.items()).map(|i| i.len()),
            Some(2)
        );
        let keys: Vec<&str> = v.entries().unwrap().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "n", "s", "q"], "entries in page order");
        assert_eq!(
            text(v),
            serde_json::from_str::<serde_json::Value>(
                r#"{"a": {"b": [10, {"c~d/e": "xé"}]}, "n": 1.5, "s": "plain", "q": "a\"b\n"}"#
            )
            .unwrap()
            .to_string()
        );
        let same = leaked(serde_json::json!({"n": 1.5, "k": [null, true, -3, "é/"]}));
        assert_eq!(
            text(same),
            r#"{"k":[null,true,-3,"é/"],"n":1.5}"#,
            "keys sorted"
        );
        // Past 16 keys the entries are sorted on the heap: the text is sorted all the same.
        let keys: Vec<String> = (0..40).rev().map(|i| format!(r#""k{i:02}":{i}"#)).collect();
        let mut wide = format!("{{{}}}", keys.join(",")).into_bytes();
        let sorted: Vec<String> = (0..40).map(|i| format!(r#""k{i:02}":{i}"#)).collect();
        assert_eq!(
            text(root(&parse(&mut wide).unwrap())),
            format!("{{{}}}", sorted.join(","))
        );
        assert!(parse(&mut br#"{"a": 1"#.to_vec()).is_err());
        assert!(NULL.is_null() && NULL.get("a").is_none() && NULL.items().is_none());
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_as_serde_json_does() {
        let mut body = br#"{"id": 1, "b": true, "id": 2}"#.to_vec();
        let tape = parse(&mut body).unwrap();
        let v = root(&tape);
        assert_eq!(v.get("id").and_then(|x| x.as_i64()), Some(2));
        assert_eq!(text(v), r#"{"b":true,"id":2}"#);
    }
}
