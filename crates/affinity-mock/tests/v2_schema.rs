//! The double's v2 responses, checked against Affinity's own OpenAPI document.
//!
//! Every v2 endpoint the double serves is walked to its last page (with and without field
//! data) and every page is validated against the response schema the spec gives for that
//! path and status, formats included. Error responses are validated the same way. The test
//! also proves its coverage: the set of validated endpoints equals the set the double serves
//! (every other GET path of the spec answers 404), and every one of the spec's 17 field value
//! types was validated with real (non-null) data.

mod common;

use affinity_mock::Sizes;
use common::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

fn spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/spec/openapi-v2.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("spec")).expect("spec json")
}

/// Escapes a JSON pointer token.
fn esc(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

struct Checker {
    spec: Value,
    validators: BTreeMap<String, jsonschema::Validator>,
    validated: BTreeMap<String, usize>,
    value_types: BTreeSet<String>,
}

impl Checker {
    fn new() -> Self {
        Checker {
            spec: spec(),
            validators: BTreeMap::new(),
            validated: BTreeMap::new(),
            value_types: BTreeSet::new(),
        }
    }

    /// JSON pointer of the schema the spec gives for `template` answering `status`.
    fn schema_pointer(&self, template: &str, status: &str) -> String {
        let responses = &self.spec["paths"][template]["get"]["responses"];
        let (mut base, mut resp) = (
            format!("/paths/{}/get/responses/{status}", esc(template)),
            responses
                .get(status)
                .or_else(|| responses.get("default"))
                .unwrap_or_else(|| panic!("{template} has no {status}")),
        );
        if responses.get(status).is_none() {
            base = format!("/paths/{}/get/responses/default", esc(template));
        }
        if let Some(r) = resp.get("$ref").and_then(Value::as_str) {
            base = r.trim_start_matches('#').to_string();
            resp = self.spec.pointer(&base).expect("response ref");
        }
        assert!(
            resp["content"]["application/json"]["schema"].is_object(),
            "{template} {status} has a JSON schema"
        );
        format!("{base}/content/application~1json/schema")
    }

    fn check(&mut self, template: &str, status: u16, body: &Value) {
        let errors = self.errors(template, status, body);
        assert!(
            errors.is_empty(),
            "GET {template} ({status}) does not match the spec:\n{}\nbody: {}",
            errors.join("\n"),
            truncate(body)
        );
        if status == 200 {
            *self.validated.entry(template.to_string()).or_default() += 1;
            collect_value_types(body, &mut self.value_types);
        }
    }

    /// What the spec finds wrong with `body` as the answer of `template` with `status`.
    fn errors(&mut self, template: &str, status: u16, body: &Value) -> Vec<String> {
        let pointer = self.schema_pointer(template, &status.to_string());
        let spec = &self.spec;
        let validator = self.validators.entry(pointer.clone()).or_insert_with(|| {
            let mut root = spec.clone();
            root["$ref"] = json!(format!(
                "#{}",
                pointer.replace('{', "%7B").replace('}', "%7D")
            ));
            jsonschema::draft202012::options()
                .should_validate_formats(true)
                .build(&root)
                .unwrap_or_else(|e| panic!("schema {pointer}: {e}"))
        });
        validator
            .iter_errors(body)
            .take(5)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }
}

fn truncate(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 2000 {
        format!("{}…", &s[..2000])
    } else {
        s
    }
}

/// Field value types seen with non-null data.
fn collect_value_types(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let (Some(Value::Object(value)), Some(_)) =
                (m.get("value"), m.get("enrichmentSource"))
                && let (Some(t), Some(d)) =
                    (value.get("type").and_then(Value::as_str), value.get("data"))
                && !d.is_null()
            {
                out.insert(t.to_string());
            }
            m.values().for_each(|x| collect_value_types(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_value_types(x, out)),
        _ => {}
    }
}

/// The v2 path templates the double serves.
const SERVED: &[&str] = &[
    "/v2/auth/whoami",
    "/v2/persons",
    "/v2/persons/fields",
    "/v2/persons/{personId}",
    "/v2/companies",
    "/v2/companies/fields",
    "/v2/companies/{companyId}",
    "/v2/opportunities",
    "/v2/opportunities/{opportunityId}",
    "/v2/lists",
    "/v2/lists/{listId}",
    "/v2/lists/{listId}/fields",
    "/v2/lists/{listId}/list-entries",
    "/v2/lists/{listId}/list-entries/{listEntryId}",
    "/v2/lists/{listId}/saved-views",
    "/v2/lists/{listId}/saved-views/{viewId}",
    "/v2/lists/{listId}/saved-views/{viewId}/list-entries",
    "/v2/notes",
    "/v2/notes/{noteId}/replies",
];

const ALL_ENTITY_TYPES: &str =
    "fieldTypes=enriched&fieldTypes=global&fieldTypes=relationship-intelligence";
const ALL_LIST_TYPES: &str =
    "fieldTypes=enriched&fieldTypes=global&fieldTypes=relationship-intelligence&fieldTypes=list";

async fn walk_and_check(
    c: &mut Checker,
    http: &reqwest::Client,
    base: &str,
    template: &str,
    path: &str,
) -> Vec<Value> {
    let pages = walk_v2(http, base, path).await;
    for p in &pages {
        c.check(template, 200, p);
    }
    pages
}

async fn get_and_check(
    c: &mut Checker,
    http: &reqwest::Client,
    base: &str,
    template: &str,
    path: &str,
) -> Value {
    let body = get(http, &format!("{base}{path}")).await;
    c.check(template, 200, &body);
    body
}

#[tokio::test]
async fn every_served_v2_endpoint_matches_the_official_schemas() {
    let mut c = Checker::new();
    for (seed, sizes) in [
        (7, Sizes::small()),
        (11, Sizes::small()),
        (3, Sizes::empty()),
    ] {
        let double = start(seed, sizes).await;
        let base = double.base_url();
        let http = client();
        let ds = double.dataset();

        get_and_check(&mut c, &http, &base, "/v2/auth/whoami", "/v2/auth/whoami").await;
        for (t, kind) in [("/v2/persons", "persons"), ("/v2/companies", "companies")] {
            walk_and_check(&mut c, &http, &base, t, &format!("/v2/{kind}")).await;
            walk_and_check(
                &mut c,
                &http,
                &base,
                t,
                &format!("/v2/{kind}?{ALL_ENTITY_TYPES}&limit=37"),
            )
            .await;
            walk_and_check(
                &mut c,
                &http,
                &base,
                &format!("{t}/fields"),
                &format!("/v2/{kind}/fields"),
            )
            .await;
        }
        walk_and_check(
            &mut c,
            &http,
            &base,
            "/v2/opportunities",
            "/v2/opportunities",
        )
        .await;
        walk_and_check(&mut c, &http, &base, "/v2/lists", "/v2/lists").await;
        walk_and_check(&mut c, &http, &base, "/v2/notes", "/v2/notes?includes=personsPreview&includes=companiesPreview&includes=opportunitiesPreview&includes=repliesCount&totalCount=true&limit=100").await;
        walk_and_check(&mut c, &http, &base, "/v2/notes", "/v2/notes").await;

        for p in ds.persons.iter().step_by(17) {
            get_and_check(
                &mut c,
                &http,
                &base,
                "/v2/persons/{personId}",
                &format!("/v2/persons/{}?{ALL_ENTITY_TYPES}", p.id),
            )
            .await;
        }
        for co in ds.companies.iter().step_by(13) {
            get_and_check(
                &mut c,
                &http,
                &base,
                "/v2/companies/{companyId}",
                &format!("/v2/companies/{}?{ALL_ENTITY_TYPES}", co.id),
            )
            .await;
        }
        for o in ds.opportunities.iter().step_by(7) {
            get_and_check(
                &mut c,
                &http,
                &base,
                "/v2/opportunities/{opportunityId}",
                &format!("/v2/opportunities/{}", o.id),
            )
            .await;
        }
        for l in &ds.lists {
            get_and_check(
                &mut c,
                &http,
                &base,
                "/v2/lists/{listId}",
                &format!("/v2/lists/{}", l.id),
            )
            .await;
            walk_and_check(
                &mut c,
                &http,
                &base,
                "/v2/lists/{listId}/fields",
                &format!("/v2/lists/{}/fields", l.id),
            )
            .await;
            walk_and_check(
                &mut c,
                &http,
                &base,
                "/v2/lists/{listId}/list-entries",
                &format!("/v2/lists/{}/list-entries", l.id),
            )
            .await;
            let pages = walk_and_check(
                &mut c,
                &http,
                &base,
                "/v2/lists/{listId}/list-entries",
                &format!("/v2/lists/{}/list-entries?{ALL_LIST_TYPES}", l.id),
            )
            .await;
            for e in records(&pages).iter().step_by(11) {
                let path = format!(
                    "/v2/lists/{}/list-entries/{}?{ALL_LIST_TYPES}",
                    l.id, e["id"]
                );
                get_and_check(
                    &mut c,
                    &http,
                    &base,
                    "/v2/lists/{listId}/list-entries/{listEntryId}",
                    &path,
                )
                .await;
            }
            let views = walk_and_check(
                &mut c,
                &http,
                &base,
                "/v2/lists/{listId}/saved-views",
                &format!("/v2/lists/{}/saved-views", l.id),
            )
            .await;
            for v in records(&views) {
                get_and_check(
                    &mut c,
                    &http,
                    &base,
                    "/v2/lists/{listId}/saved-views/{viewId}",
                    &format!("/v2/lists/{}/saved-views/{}", l.id, v["id"]),
                )
                .await;
                walk_and_check(
                    &mut c,
                    &http,
                    &base,
                    "/v2/lists/{listId}/saved-views/{viewId}/list-entries",
                    &format!("/v2/lists/{}/saved-views/{}/list-entries", l.id, v["id"]),
                )
                .await;
            }
        }
        let with_replies: BTreeSet<i64> = ds.notes.iter().filter_map(|n| n.parent_id()).collect();
        for n in ds
            .notes
            .iter()
            .filter(|n| n.parent_id().is_none())
            .step_by(9)
            .map(|n| n.id)
            .chain(with_replies)
        {
            walk_and_check(
                &mut c,
                &http,
                &base,
                "/v2/notes/{noteId}/replies",
                &format!("/v2/notes/{n}/replies?totalCount=true"),
            )
            .await;
        }

        // Errors, against the spec's error schemas.
        let bad_limit = get_auth(
            &http,
            &format!("{base}/v2/persons?limit=101"),
            Some(("bearer", KEY)),
        )
        .await;
        assert_eq!(bad_limit.status, 400);
        c.check("/v2/persons", 400, &bad_limit.body);
        let bad_cursor = get_auth(
            &http,
            &format!("{base}/v2/companies?cursor=bm90LWEtY3Vyc29y"),
            Some(("bearer", KEY)),
        )
        .await;
        assert_eq!(bad_cursor.status, 400);
        c.check("/v2/companies", 400, &bad_cursor.body);
        let missing = get_auth(
            &http,
            &format!("{base}/v2/lists/999999999"),
            Some(("bearer", KEY)),
        )
        .await;
        assert_eq!(missing.status, 404);
        c.check("/v2/lists/{listId}", 404, &missing.body);
        let unauthorized = get_auth(&http, &format!("{base}/v2/persons"), None).await;
        assert_eq!(unauthorized.status, 401);
        c.check("/v2/persons", 401, &unauthorized.body);
        let basic = get_auth(&http, &format!("{base}/v2/persons"), Some(("basic", KEY))).await;
        assert_eq!(basic.status, 401, "v2 accepts only bearer authentication");
        c.check("/v2/persons", 401, &basic.body);
        double.stop().await;
    }

    // Coverage: everything served was validated, and nothing else is served.
    let validated: BTreeSet<&str> = c.validated.keys().map(String::as_str).collect();
    let served: BTreeSet<&str> = SERVED.iter().copied().collect();
    assert_eq!(validated, served, "every served v2 endpoint is validated");
    let spec_gets: Vec<String> = c.spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| v.get("get").is_some())
        .map(|(k, _)| k.clone())
        .collect();
    for t in &served {
        assert!(
            spec_gets.iter().any(|s| s == t),
            "{t} is a GET path of the spec"
        );
    }
    let double = start(7, Sizes::small()).await;
    let http = client();
    for t in spec_gets.iter().filter(|t| !served.contains(t.as_str())) {
        let concrete: String = t
            .split('/')
            .map(|s| if s.starts_with('{') { "1" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let got = get_auth(
            &http,
            &format!("{}{concrete}", double.base_url()),
            Some(("bearer", KEY)),
        )
        .await;
        assert_eq!(got.status, 404, "{t} is not served, so it must answer 404");
    }
    let all_types: BTreeSet<String> = affinity_mock::model::ValueType::ALL
        .iter()
        .map(|t| t.v2_name().to_string())
        .collect();
    assert_eq!(
        c.value_types, all_types,
        "every field value type was validated with data"
    );
    let total: usize = c.validated.values().sum();
    println!(
        "validated {total} v2 responses over {} endpoints and {} value types",
        c.validated.len(),
        c.value_types.len()
    );
}

/// The checker itself must catch what is wrong, or the test above proves nothing.
#[tokio::test]
async fn the_schema_check_rejects_responses_that_break_the_spec() {
    let mut c = Checker::new();
    let double = start(7, Sizes::small()).await;
    let http = client();
    let page = get(
        &http,
        &format!(
            "{}/v2/persons?{ALL_ENTITY_TYPES}&limit=5",
            double.base_url()
        ),
    )
    .await;
    assert!(c.errors("/v2/persons", 200, &page).is_empty());

    let mut wrong_enum = page.clone();
    wrong_enum["data"][0]["type"] = json!("robot");
    assert!(
        !c.errors("/v2/persons", 200, &wrong_enum).is_empty(),
        "person type outside the enum"
    );

    let mut no_pagination = page.clone();
    no_pagination.as_object_mut().unwrap().remove("pagination");
    assert!(
        !c.errors("/v2/persons", 200, &no_pagination).is_empty(),
        "pagination is required"
    );

    let mut bad_value = page.clone();
    bad_value["data"][0]["fields"][0]["value"] = json!({ "type": "number", "data": "twelve" });
    assert!(
        !c.errors("/v2/persons", 200, &bad_value).is_empty(),
        "a number field with a string"
    );

    let mut extra = page.clone();
    extra["data"][0]["nickname"] = json!("Ada");
    assert!(
        !c.errors("/v2/persons", 200, &extra).is_empty(),
        "Person has additionalProperties: false"
    );

    let mut bad_email = page;
    bad_email["data"][0]["primaryEmailAddress"] = json!("not an email");
    assert!(
        !c.errors("/v2/persons", 200, &bad_email).is_empty(),
        "formats are validated"
    );
}
