//! v1 interactions: which chains to run, which records each chain owns, and their rows.
//!
//! v1 `GET /interactions` takes one person, one interaction type and a window of at most a
//! year per request, so a naive sync costs persons × types × years requests. Two things keep
//! it near the minimum:
//!
//! - **Pruning from data already fetched.** The v2 persons stream asks for the
//!   relationship-intelligence fields (first/last email, first/last/next event, first/last
//!   chat message). A person gets chains only for the types and years between those dates;
//!   persons with no interactions get none. (Calls count as events, as v1 groups meetings and
//!   calls under `events`.)
//! - **Each interaction once.** An email with three external recipients comes back in three
//!   persons' chains. A chain keeps an interaction only if its person is the interaction's
//!   external participant with the lowest id, and only if it falls in the chain's half-open
//!   window `[start, end)` (windows meet at their edges, where v1 is inclusive on both sides).

use crate::record::Value;
use crate::table::{Pick, Row, parse_timestamp};
use std::collections::BTreeMap;

/// v1's longest window: one year.
pub const YEAR_SECS: i64 = 365 * 86_400;

/// How many relationship-intelligence fields are read here (see [`ri_index`]).
const RI_KEYS: usize = 8;

/// The time of each relationship-intelligence field of a person ([`ri_index`]), in Unix
/// seconds: one pass over the `fields` array (a person has dozens of fields, and this runs
/// for every person of a page).
fn ri_times(person: Value) -> [Option<i64>; RI_KEYS] {
    let (mut out, mut seen) = ([None; RI_KEYS], [false; RI_KEYS]);
    let Some(fields) = person.get("fields").and_then(|f| f.items()) else {
        return out;
    };
    for field in fields {
        let Some(i) = field
            .get("id")
            .and_then(|x| x.as_str())
            .and_then(ri_index)
            .filter(|&i| !seen[i])
        else {
            continue;
        };
        // The first field with the id counts, as v2 sends each field once.
        seen[i] = true;
        out[i] = field
            .at("/value/data")
            .and_then(|data| data.get("sentAt").or_else(|| data.get("startTime")))
            .and_then(|when| when.as_str())
            .and_then(parse_timestamp)
            .map(|us| us.div_euclid(1_000_000));
    }
    out
}

/// The slot of the relationship-intelligence field `key`: a `match`, which compares lengths before bytes (most
/// of a person's fields are not relationship intelligence).
fn ri_index(key: &str) -> Option<usize> {
    Some(match key {
        "last-contact" => 0,
        "first-event" => 1,
        "last-event" => 2,
        "next-event" => 3,
        "first-email" => 4,
        "last-email" => 5,
        "first-chat-message" => 6,
        "last-chat-message" => 7,
        _ => return None,
    })
}

fn ri_time(times: &[Option<i64>; RI_KEYS], key: &str) -> Option<i64> {
    times[ri_index(key)?]
}

fn is_external(person: Value) -> bool {
    person.get("type").and_then(|x| x.as_str()) == Some("external")
}

/// Whether a v2 person has any interaction (and so relationship strengths).
pub fn has_interactions(person: Value) -> bool {
    is_external(person) && {
        let times = ri_times(person);
        ["last-contact", "next-event"]
            .iter()
            .any(|k| ri_time(&times, k).is_some())
    }
}

/// The interaction types (v1 codes) and the RI fields that bound them.
const GROUPS: [(&[i64], &[&str]); 3] = [
    (&[0, 1], &["first-event", "last-event", "next-event"]),
    (&[3], &["first-email", "last-email"]),
    (&[2], &["first-chat-message", "last-chat-message"]),
];

/// The chains of one v2 person: (person, type, window) for every type and year with
/// interactions.
pub fn windows(person: Value) -> Vec<Vec<(&'static str, i64)>> {
    let Some(id) = person
        .get("id")
        .and_then(|x| x.as_i64())
        .filter(|_| is_external(person))
    else {
        return vec![];
    };
    let all = ri_times(person);
    let mut out = vec![];
    for (types, keys) in GROUPS {
        let times: Vec<i64> = keys.iter().filter_map(|k| ri_time(&all, k)).collect();
        let (Some(&lo), Some(&hi)) = (times.iter().min(), times.iter().max()) else {
            continue;
        };
        let end = hi + 1;
        let mut start = lo;
        while start < end {
            let stop = (start + YEAR_SECS).min(end);
            for t in types {
                out.push(vec![
                    ("person_id", id),
                    ("type", *t),
                    ("start", start),
                    ("end", stop),
                ]);
            }
            start = stop;
        }
    }
    out
}

/// Everyone on a v1 interaction, with their person objects.
fn participants(record: Value<'_>) -> Vec<Value<'_>> {
    let mut out = vec![];
    if let Some(ps) = record.get("persons").and_then(|x| x.items()) {
        out.extend(ps);
    }
    if let Some(from) = record.get("from").filter(|f| f.is_object()) {
        out.push(from);
    }
    for key in ["to", "cc"] {
        if let Some(ps) = record.get(key).and_then(|x| x.items()) {
            out.extend(ps);
        }
    }
    out
}

/// The integer ids of `people`, a run of one id kept once.
fn ids<'a>(people: impl IntoIterator<Item = Value<'a>>) -> Pick<'a> {
    let mut v: Vec<Value> = people
        .into_iter()
        .filter_map(|p| p.get("id").filter(|x| x.as_i64().is_some()))
        .collect();
    v.dedup_by(|a, b| a.as_i64() == b.as_i64());
    Pick::List(v)
}

/// Whether the chain `parents` (person, type, window) is the one that writes `record`.
pub fn owned_by_chain(record: Value, parents: &BTreeMap<String, i64>) -> bool {
    let (Some(&person), Some(&start), Some(&end)) = (
        parents.get("person_id"),
        parents.get("start"),
        parents.get("end"),
    ) else {
        return false;
    };
    let Some(date) = record
        .get("date")
        .and_then(|x| x.as_str())
        .and_then(parse_timestamp)
    else {
        return false;
    };
    if date < start * 1_000_000 || date >= end * 1_000_000 {
        return false;
    }
    let owner = participants(record)
        .into_iter()
        .filter(|p| p.get("type").and_then(|x| x.as_i64()) == Some(0))
        .filter_map(|p| p.get("id").and_then(|x| x.as_i64()))
        .min();
    owner == Some(person)
}

/// An interaction row: the participant id lists lifted to the top level.
pub fn rows(record: Value<'_>) -> Result<Vec<Row<'_>>, String> {
    if !record.is_object() {
        return Err("an interaction is not an object".into());
    }
    let mut extra = vec![("person_ids", ids(participants(record)))];
    for (key, lifted) in [("to", "to_person_ids"), ("cc", "cc_person_ids")] {
        if let Some(ps) = record.get(key).and_then(|x| x.items()) {
            extra.push((lifted, ids(ps)));
        }
    }
    Ok(vec![Row::Json { record, extra }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::rec;
    use serde_json::json;

    fn ri(key: &str, kind: &str, when: &str) -> serde_json::Value {
        let at = if kind == "email" || kind == "chat-message" {
            "sentAt"
        } else {
            "startTime"
        };
        json!({ "id": key, "name": key, "type": "relationship-intelligence", "enrichmentSource": null,
                "value": { "type": "interaction", "data": { "type": kind, "id": 1, at: when } } })
    }

    #[test]
    fn windows_cover_exactly_the_years_with_interactions() {
        let person = rec!({ "id": 42, "type": "external", "fields": [
            ri("first-email", "email", "2020-01-01T00:00:00Z"),
            ri("last-email", "email", "2022-06-01T00:00:00Z"),
            ri("next-event", "meeting", "2026-07-01T00:00:00Z"),
        ]});
        let w = windows(person);
        let emails: Vec<&Vec<(&str, i64)>> = w.iter().filter(|c| c[1].1 == 3).collect();
        assert_eq!(
            emails.len(),
            3,
            "2020-01-01 to 2022-06-01 is three year-windows"
        );
        assert!(
            emails.windows(2).all(|p| p[0][3].1 == p[1][2].1),
            "windows meet edge to edge"
        );
        let last = emails.last().unwrap();
        assert_eq!(
            last[3].1,
            parse_timestamp("2022-06-01T00:00:00Z").unwrap() / 1_000_000 + 1
        );
        // Only a future meeting: one window for meetings and one for calls; no chats.
        assert_eq!(w.iter().filter(|c| c[1].1 == 0 || c[1].1 == 1).count(), 2);
        assert!(w.iter().all(|c| c[1].1 != 2));
        assert!(windows(rec!({ "id": 1, "type": "internal", "fields": [] })).is_empty());
        assert!(windows(rec!({ "id": 2, "type": "external", "fields": [] })).is_empty());
    }

    #[test]
    fn an_interaction_belongs_to_its_lowest_external_participant_and_one_window() {
        let email = rec!({ "id": 9, "type": 3, "date": "2021-03-01T00:00:00.000-08:00",
            "from": { "id": 1, "type": 1 }, "to": [{ "id": 30, "type": 0 }, { "id": 20, "type": 0 }], "cc": [] });
        let t = parse_timestamp("2021-03-01T08:00:00Z").unwrap() / 1_000_000;
        let chain = |person: i64, start: i64, end: i64| {
            BTreeMap::from([
                ("person_id".to_string(), person),
                ("start".into(), start),
                ("end".into(), end),
                ("type".into(), 3),
            ])
        };
        assert!(owned_by_chain(email, &chain(20, t - 10, t + 10)));
        assert!(
            !owned_by_chain(email, &chain(30, t - 10, t + 10)),
            "30 is not the lowest external id"
        );
        assert!(
            owned_by_chain(email, &chain(20, t, t + 10)),
            "start is inclusive"
        );
        assert!(
            !owned_by_chain(email, &chain(20, t - 10, t)),
            "end is exclusive"
        );
        let Row::Json { extra, .. } = &rows(email).unwrap()[0] else {
            panic!("an interaction row is its record")
        };
        let lifted = |key: &str| {
            let (_, v) = extra.iter().find(|(k, _)| *k == key).expect(key);
            crate::table::pick_text(v)
        };
        assert_eq!(lifted("person_ids"), "[1,30,20]");
        assert_eq!(lifted("to_person_ids"), "[30,20]");
        assert_eq!(lifted("cc_person_ids"), "[]");
        assert!(rows(rec!([1])).is_err());
    }
}
