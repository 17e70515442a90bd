//! The double's v1 responses, checked against the examples of the v1 documentation.
//!
//! v1 has no schema, so the documented example responses are the reference: for each
//! endpoint, every record the double serves must carry every key of the documented example
//! with the same JSON type (recursively), and any key beyond the example must be an attribute
//! listed in that resource's attribute table. The examples are read from `spec/api-v1.md`
//! itself, not copied into this test.

mod common;

use affinity_mock::Sizes;
use affinity_mock::model::InteractionKind;
use common::*;
use serde_json::Value;
use std::collections::BTreeSet;

fn docs() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/spec/api-v1.md"))
        .expect("v1 docs")
}

/// The `## title` section of the docs.
fn section<'a>(docs: &'a str, title: &str) -> &'a str {
    let start = docs
        .find(&format!("\n## {title}\n"))
        .unwrap_or_else(|| panic!("no section {title:?}"));
    let rest = &docs[start + 1..];
    let end = rest[3..].find("\n## ").map(|i| i + 3).unwrap_or(rest.len());
    &rest[..end]
}

/// The JSON examples of a section. Elisions (`...`) and trailing commas are removed, and a
/// block holding several `# Kind type` examples is split into one value each.
fn examples(docs: &str, title: &str) -> Vec<Value> {
    let sec = section(docs, title);
    let mut out = vec![];
    for block in sec.split("```json\n").skip(1) {
        let block = block.split("```").next().unwrap();
        let mut chunk = String::new();
        let mut chunks = vec![];
        for line in block.lines() {
            if line.trim_start().starts_with('#') {
                chunks.push(std::mem::take(&mut chunk));
            } else {
                chunk.push_str(line);
                chunk.push('\n');
            }
        }
        chunks.push(chunk);
        for c in chunks.into_iter().filter(|c| !c.trim().is_empty()) {
            let cleaned = strip_trailing_commas(&c.replace("...", ""));
            out.push(
                serde_json::from_str(&cleaned)
                    .unwrap_or_else(|e| panic!("example in {title:?}: {e}\n{cleaned}")),
            );
        }
    }
    out
}

fn strip_trailing_commas(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    for (i, c) in chars.iter().enumerate() {
        if *c == ','
            && chars[i + 1..]
                .iter()
                .find(|c| !c.is_whitespace())
                .is_some_and(|n| *n == '}' || *n == ']')
        {
            continue;
        }
        out.push(*c);
    }
    out
}

/// The keys a `## The X Resource` section documents: its attribute table and the top-level
/// keys of its own example.
fn attributes(docs: &str, title: &str) -> BTreeSet<String> {
    let mut keys: BTreeSet<String> = section(docs, title)
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| Attribute") && !l.starts_with("| ---"))
        .filter_map(|l| l.split('|').nth(1).map(|s| s.trim().to_string()))
        .filter(|s| !s.is_empty())
        .collect();
    for ex in examples(docs, title) {
        if let Some(o) = ex.as_object() {
            keys.extend(o.keys().cloned());
        }
    }
    keys
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Keys whose type depends on the field ("One of many" in the docs): not compared.
const POLYMORPHIC: [&str; 1] = ["value"];

/// Checks `ours` against the documented `examples` (several examples of the same resource:
/// keys in all are required, keys in any are allowed). `extra` lists further allowed keys as
/// dotted paths relative to the record (`entity.id`); `rel` is where `ours` is in the record.
fn conforms(
    ours: &Value,
    examples: &[&Value],
    extra: &BTreeSet<String>,
    rel: &str,
    at: &str,
    problems: &mut Vec<String>,
) {
    let examples: Vec<&Value> = examples.iter().copied().filter(|e| !e.is_null()).collect();
    if ours.is_null() || examples.is_empty() {
        return;
    }
    let want = kind(examples[0]);
    if kind(ours) != want {
        problems.push(format!("{at}: documented as {want}, served {}", kind(ours)));
        return;
    }
    match ours {
        Value::Object(m) => {
            let objs: Vec<&serde_json::Map<String, Value>> =
                examples.iter().filter_map(|e| e.as_object()).collect();
            let any: BTreeSet<&String> = objs.iter().flat_map(|o| o.keys()).collect();
            for key in &any {
                if objs.iter().all(|o| o.contains_key(*key)) && !m.contains_key(*key) {
                    problems.push(format!("{at}: missing documented key {key:?}"));
                }
            }
            for (key, value) in m {
                let path = if rel.is_empty() {
                    key.clone()
                } else {
                    format!("{rel}.{key}")
                };
                if !any.contains(key) && !extra.contains(&path) {
                    problems.push(format!(
                        "{at}: key {key:?} is not in the documented example or attribute table"
                    ));
                }
                if POLYMORPHIC.contains(&key.as_str()) {
                    continue;
                }
                let sub: Vec<&Value> = objs.iter().filter_map(|o| o.get(key)).collect();
                conforms(value, &sub, extra, &path, &format!("{at}.{key}"), problems);
            }
        }
        Value::Array(items) => {
            let sub: Vec<&Value> = examples
                .iter()
                .filter_map(|e| e.as_array())
                .flatten()
                .collect();
            for item in items {
                conforms(item, &sub, extra, rel, &format!("{at}[]"), problems);
            }
        }
        _ => {}
    }
}

/// The list entry examples omit `entity.id`; the `list_entry.created` webhook example of
/// "Supported Webhook Events" shows the same resource with it.
const LIST_ENTRY_ENTITY_ID: &[&str] = &["entity.id"];

struct Case {
    /// Section whose example is the reference.
    section: &'static str,
    /// Where the records sit in the example ("" for the root, else a key).
    example_key: &'static str,
    /// Section whose attribute table lists further allowed keys.
    resource: &'static str,
    path: String,
    /// Where the records sit in our response.
    key: &'static str,
    /// Nested keys documented elsewhere in the docs (dotted paths), with where.
    also: &'static [&'static str],
}

#[tokio::test]
async fn every_served_v1_endpoint_matches_the_documented_examples() {
    let docs = docs();
    let double = start(7, Sizes::small()).await;
    let base = double.base_url();
    let ds = double.dataset();
    let http = client();

    let person_list = ds
        .lists
        .iter()
        .find(|l| l.entity == affinity_mock::model::EntityKind::Person)
        .unwrap();
    let external_with = |k: InteractionKind| {
        let i = ds
            .interactions
            .iter()
            .find(|i| i.kind == k && i.date < affinity_mock::generate::NOW)
            .unwrap();
        let p = external_participant(&ds, i);
        let t = |ms: i64| {
            affinity_mock::api::v1_time(ms)
                .as_str()
                .unwrap()
                .to_string()
        };
        let q = |s: &str| s.replace('+', "%2B");
        format!(
            "/interactions?type={}&person_id={p}&start_time={}&end_time={}",
            k.v1_code(),
            q(&t(i.date - 100 * 86_400_000)),
            q(&t(i.date + 100 * 86_400_000))
        )
    };
    let interacting_person = external_participant(&ds, &ds.interactions[0]);
    let interacting_company = ds
        .persons
        .iter()
        .find(|p| p.id == interacting_person)
        .unwrap()
        .company_ids
        .first()
        .copied()
        .unwrap_or(ds.companies[0].id);
    let person_with_values = ds
        .list_entries
        .iter()
        .find(|e| e.list_id == person_list.id)
        .unwrap()
        .entity_id;
    let tracked = ds
        .fields
        .iter()
        .find(|f| {
            f.track_changes
                && f.list_id.is_some()
                && f.value_type == affinity_mock::model::ValueType::RankedDropdown
        })
        .unwrap();
    let stranger = ds.relationship_strengths[0].external_id;

    let cases = vec![
        Case {
            section: "Get All Lists",
            example_key: "",
            resource: "The List Resource",
            path: "/lists".into(),
            key: "",
            also: &[],
        },
        Case {
            section: "Get All List Entries",
            example_key: "list_entries",
            resource: "The List Entry Resource",
            path: format!("/lists/{}/list-entries?page_size=50", person_list.id),
            key: "list_entries",
            also: LIST_ENTRY_ENTITY_ID,
        },
        Case {
            section: "Get a Specific List Entry",
            example_key: "",
            resource: "The List Entry Resource",
            path: format!("/lists/{}/list-entries", person_list.id),
            key: "",
            also: LIST_ENTRY_ENTITY_ID,
        },
        Case {
            section: "Get Fields",
            example_key: "",
            resource: "The Field Resource",
            path: "/fields".into(),
            key: "",
            also: &[],
        },
        Case {
            section: "Get Global Person Fields",
            example_key: "",
            resource: "The Field Resource",
            path: "/persons/fields".into(),
            key: "",
            also: &[],
        },
        Case {
            section: "Get Global Organizations Fields",
            example_key: "",
            resource: "The Field Resource",
            path: "/organizations/fields".into(),
            key: "",
            also: &[],
        },
        Case {
            section: "Get Field Values",
            example_key: "",
            resource: "The Field Value Resource",
            path: format!("/field-values?person_id={person_with_values}"),
            key: "",
            also: &[],
        },
        Case {
            section: "Get Field Value Changes",
            example_key: "",
            resource: "The Field Value Change Resource",
            path: format!("/field-value-changes?field_id={}", tracked.id),
            key: "",
            also: &[],
        },
        Case {
            section: "Search for Persons",
            example_key: "persons",
            resource: "The Person Resource",
            path: "/persons".into(),
            key: "persons",
            also: &[],
        },
        Case {
            section: "The Person Resource",
            example_key: "",
            resource: "The Person Resource",
            path: format!(
                "/persons/{interacting_person}?with_interaction_dates=true&with_interaction_persons=true&with_opportunities=true&with_current_organizations=true"
            ),
            key: "",
            also: &[],
        },
        Case {
            section: "Search for Organizations",
            example_key: "organizations",
            resource: "The Organization Resource",
            path: "/organizations".into(),
            key: "organizations",
            also: &[],
        },
        Case {
            section: "The Organization Resource",
            example_key: "",
            resource: "The Organization Resource",
            path: format!(
                "/organizations/{interacting_company}?with_interaction_dates=true&with_interaction_persons=true"
            ),
            key: "",
            also: &[],
        },
        Case {
            section: "Search for Opportunities",
            example_key: "opportunities",
            resource: "The Opportunity Resource",
            path: "/opportunities".into(),
            key: "opportunities",
            also: &[],
        },
        Case {
            section: "Get All Interactions",
            example_key: "emails",
            resource: "The Interactions Resource",
            path: external_with(InteractionKind::Email),
            key: "emails",
            also: &[],
        },
        Case {
            section: "Get Relationship Strength",
            example_key: "",
            resource: "The Relationship Strength Resource",
            path: format!("/relationships-strengths?external_id={stranger}"),
            key: "",
            also: &[],
        },
        Case {
            section: "Get All Notes",
            example_key: "",
            resource: "The Note Resource",
            path: "/notes".into(),
            key: "notes",
            also: &[],
        },
        Case {
            section: "Get All Files",
            example_key: "entity_files",
            resource: "The Entity File Resource",
            path: "/entity-files".into(),
            key: "entity_files",
            also: &[],
        },
        Case {
            section: "Get All Reminders",
            example_key: "reminders",
            resource: "The Reminder Resource",
            path: "/reminders".into(),
            key: "reminders",
            also: &[],
        },
        Case {
            section: "Get All Webhook Subscriptions",
            example_key: "",
            resource: "The Webhook Subscription Resource",
            path: "/webhook".into(),
            key: "",
            also: &[],
        },
        Case {
            section: "Get Whoami",
            example_key: "",
            resource: "The Whoami Resource",
            path: "/auth/whoami".into(),
            key: "",
            also: &[],
        },
        Case {
            section: "Get Rate Limit Information",
            example_key: "",
            resource: "The Rate Limit Resource",
            path: "/rate-limit".into(),
            key: "",
            also: &[],
        },
    ];

    let mut problems = vec![];
    let mut checked = 0;
    for case in &cases {
        let ex = examples(&docs, case.section);
        assert!(!ex.is_empty(), "{} has an example", case.section);
        let ex_records: Vec<&Value> = if case.example_key.is_empty() {
            vec![&ex[0]]
        } else {
            vec![&ex[0][case.example_key]]
        };
        let body = get(&http, &format!("{base}{}", case.path)).await;
        let ours = if case.key.is_empty() {
            body.clone()
        } else {
            body[case.key].clone()
        };
        assert!(
            ours.as_array().is_none_or(|a| !a.is_empty()),
            "{} served no records to compare",
            case.path
        );
        let mut extra = attributes(&docs, case.resource);
        extra.extend(case.also.iter().map(|s| s.to_string()));
        // A single-resource example applies to every item of a bare array.
        let wrapped: Vec<Value> = ex_records
            .iter()
            .map(|e| Value::Array(vec![(*e).clone()]))
            .collect();
        let ex_records: Vec<&Value> = if ours.is_array() && !ex_records[0].is_array() {
            wrapped.iter().collect()
        } else {
            ex_records
        };
        conforms(
            &ours,
            &ex_records,
            &extra,
            "",
            &format!("GET {}", case.path),
            &mut problems,
        );
        checked += 1;
    }

    // Meetings, calls and chat messages: the resource section has one example per type.
    let typed = examples(&docs, "The Interactions Resource");
    let extra = attributes(&docs, "The Interactions Resource");
    for (kind, example) in [
        (InteractionKind::Meeting, &typed[0]),
        (InteractionKind::Call, &typed[0]),
        (InteractionKind::ChatMessage, &typed[1]),
        (InteractionKind::Email, &typed[2]),
    ] {
        let path = external_with(kind);
        let body = get(&http, &format!("{base}{path}")).await;
        let ours = &body[kind.v1_collection()];
        assert!(
            ours.as_array().is_some_and(|a| !a.is_empty()),
            "{path} served no {kind:?}"
        );
        conforms(
            ours,
            &[&Value::Array(vec![example.clone()])],
            &extra,
            "",
            &format!("GET {path}"),
            &mut problems,
        );
        checked += 1;
    }
    let problems: BTreeSet<String> = problems.into_iter().collect();
    assert!(
        problems.is_empty(),
        "v1 responses differ from the documentation:\n{}",
        problems.into_iter().collect::<Vec<_>>().join("\n")
    );
    println!("{checked} v1 endpoints match their documented examples");
}

/// The comparison must catch what is wrong, or the test above proves nothing.
#[test]
fn the_shape_check_rejects_undocumented_shapes() {
    let docs = docs();
    let ex = examples(&docs, "Search for Persons");
    let example = &ex[0]["persons"];
    let good: Value = serde_json::json!([{ "id": 1, "type": 0, "first_name": "A", "last_name": null, "primary_email": null, "emails": [] }]);
    let extra = attributes(&docs, "The Person Resource");
    let check = |v: &Value| {
        let mut p = vec![];
        conforms(v, &[example], &extra, "", "test", &mut p);
        p
    };
    assert!(check(&good).is_empty(), "{:?}", check(&good));
    let mut missing = good.clone();
    missing[0].as_object_mut().unwrap().remove("emails");
    assert!(!check(&missing).is_empty());
    let mut wrong_type = good.clone();
    wrong_type[0]["id"] = serde_json::json!("1");
    assert!(!check(&wrong_type).is_empty());
    let mut undocumented = good.clone();
    undocumented[0]["nickname"] = serde_json::json!("x");
    assert!(!check(&undocumented).is_empty());
    let mut documented_extra = good;
    documented_extra[0]["organization_ids"] = serde_json::json!([1]);
    assert!(
        check(&documented_extra).is_empty(),
        "attributes from the resource table are allowed"
    );
}
