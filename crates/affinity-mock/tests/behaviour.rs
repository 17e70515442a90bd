//! How the double behaves as an API: authentication, errors, pagination to the exact ground
//! truth, rate limits, faults on demand, determinism and the variety of its data.

mod common;

use affinity_mock::model::{
    EntityKind, FieldKind, InteractionKind, PersonKind, Value as Cell, ValueType,
};
use affinity_mock::{Fault, FaultPlan, MockConfig, RateLimits, Sizes, generate};
use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

#[tokio::test]
async fn authentication_follows_each_api_version() {
    let double = start(7, Sizes::small()).await;
    let base = double.base_url();
    let http = client();
    // v1: Basic with an empty user and the key as password, or Bearer.
    assert_eq!(
        get_auth(&http, &format!("{base}/persons"), Some(("basic", KEY)))
            .await
            .status,
        200
    );
    assert_eq!(
        get_auth(&http, &format!("{base}/persons"), Some(("bearer", KEY)))
            .await
            .status,
        200
    );
    // v2: Bearer only.
    assert_eq!(
        get_auth(&http, &format!("{base}/v2/persons"), Some(("bearer", KEY)))
            .await
            .status,
        200
    );
    let basic_v2 = get_auth(&http, &format!("{base}/v2/persons"), Some(("basic", KEY))).await;
    assert_eq!(basic_v2.status, 401);
    assert!(
        basic_v2.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("bearer")
    );
    for url in [
        format!("{base}/persons"),
        format!("{base}/v2/persons"),
        format!("{base}/no/such/path"),
    ] {
        for auth in [
            None,
            Some(("bearer", "wrong-key")),
            Some(("basic", "wrong-key")),
        ] {
            let got = get_auth(&http, &url, auth).await;
            assert_eq!(got.status, 401, "{url} with {auth:?}");
            assert_eq!(got.body["errors"][0]["code"], "authentication");
            assert!(
                !got.body.to_string().contains(KEY),
                "the error never echoes a key"
            );
        }
    }
}

#[tokio::test]
async fn errors_are_json_with_the_documented_status() {
    let double = start(7, Sizes::small()).await;
    let base = double.base_url();
    let http = client();
    let cases = [
        ("/v2/persons?limit=101", 400, "validation"),
        ("/v2/persons?limit=0", 400, "validation"),
        ("/v2/persons?limit=ten", 400, "validation"),
        ("/v2/persons?cursor=%%%", 400, "bad-request"),
        ("/v2/persons?fieldTypes=list", 400, "validation"),
        ("/v2/persons?fieldIds=field-no-such", 400, "validation"),
        ("/v2/notes?filter=color%3Dred", 400, "bad-request"),
        ("/v2/lists/1", 404, "not-found"),
        ("/v2/persons/1", 404, "not-found"),
        ("/v2/nothing-here", 404, "not-found"),
        ("/persons?page_size=501", 422, "validation"),
        ("/persons?page_token=garbage", 422, "validation"),
        ("/interactions?type=3&person_id=1", 422, "validation"),
        ("/field-values", 422, "validation"),
        (
            "/field-values?person_id=1&organization_id=2",
            422,
            "validation",
        ),
        ("/relationships-strengths", 422, "validation"),
        ("/reminders?type=1", 422, "validation"),
        ("/persons/1", 404, "not-found"),
        ("/nothing-here", 404, "not-found"),
    ];
    for (path, status, code) in cases {
        let auth = if path.starts_with("/v2/") {
            ("bearer", KEY)
        } else {
            ("basic", KEY)
        };
        let got = get_auth(&http, &format!("{base}{path}"), Some(auth)).await;
        assert_eq!(got.status, status, "{path}: {}", got.body);
        assert_eq!(got.body["errors"][0]["code"], code, "{path}");
        assert!(
            got.headers.contains_key("x-ratelimit-limit-user-remaining"),
            "{path} carries rate headers"
        );
    }
    // A cursor is bound to its endpoint; a page token to its query.
    let page = get(&http, &format!("{base}/v2/persons?limit=5")).await;
    let next = page["pagination"]["nextUrl"].as_str().unwrap();
    let cursor = next.split("cursor=").nth(1).unwrap();
    let moved = get_auth(
        &http,
        &format!("{base}/v2/companies?cursor={cursor}"),
        Some(("bearer", KEY)),
    )
    .await;
    assert_eq!(moved.status, 400);
    let v1 = get(&http, &format!("{base}/persons?page_size=10")).await;
    let token = v1["next_page_token"].as_str().unwrap();
    let url = reqwest::Url::parse_with_params(
        &format!("{base}/persons"),
        &[("page_size", "10"), ("term", "a"), ("page_token", token)],
    )
    .unwrap();
    let changed = get_auth(&http, url.as_str(), Some(("basic", KEY))).await;
    assert_eq!(changed.status, 422);
    assert_eq!(
        changed.body["errors"][0]["message"],
        "Invalid page_token variable"
    );
}

/// Every collection walked to its last page yields exactly the ground truth, in order.
#[tokio::test]
async fn walking_every_collection_yields_exactly_the_ground_truth() {
    for seed in [7, 23] {
        let double = start(seed, Sizes::small()).await;
        let base = double.base_url();
        let http = client();
        let ds = double.dataset();
        let person_ids: Vec<i64> = ds.persons.iter().map(|p| p.id).collect();
        let company_ids: Vec<i64> = ds.companies.iter().map(|c| c.id).collect();
        assert_eq!(
            ids(&records(
                &walk_v2(&http, &base, "/v2/persons?limit=100").await
            )),
            person_ids
        );
        assert_eq!(
            ids(&records(
                &walk_v2(&http, &base, "/v2/persons?limit=7").await
            )),
            person_ids
        );
        assert_eq!(
            ids(&records(&walk_v2(&http, &base, "/v2/companies").await)),
            company_ids
        );
        assert_eq!(
            ids(&v1_records(
                &walk_v1(&http, &base, "/persons", &[]).await,
                "persons"
            )),
            person_ids
        );
        assert_eq!(
            ids(&v1_records(
                &walk_v1(&http, &base, "/persons", &[("page_size", "33")]).await,
                "persons"
            )),
            person_ids
        );
        assert_eq!(
            ids(&v1_records(
                &walk_v1(&http, &base, "/organizations", &[("page_size", "100")]).await,
                "organizations"
            )),
            company_ids
        );
        let opp_ids: Vec<i64> = ds.opportunities.iter().map(|o| o.id).collect();
        assert_eq!(
            ids(&records(&walk_v2(&http, &base, "/v2/opportunities").await)),
            opp_ids
        );
        assert_eq!(
            ids(&v1_records(
                &walk_v1(&http, &base, "/opportunities", &[]).await,
                "opportunities"
            )),
            opp_ids
        );
        for list in &ds.lists {
            let want: Vec<i64> = ds
                .list_entries
                .iter()
                .filter(|e| e.list_id == list.id)
                .map(|e| e.id)
                .collect();
            let v2 = records(
                &walk_v2(
                    &http,
                    &base,
                    &format!("/v2/lists/{}/list-entries?fieldTypes=list", list.id),
                )
                .await,
            );
            assert_eq!(ids(&v2), want);
            for (entry, rec) in ds
                .list_entries
                .iter()
                .filter(|e| e.list_id == list.id)
                .zip(&v2)
            {
                assert_eq!(rec["entity"]["id"], entry.entity_id);
                assert_eq!(rec["type"], list.entity.v2_name());
            }
            let v1 = v1_records(
                &walk_v1(
                    &http,
                    &base,
                    &format!("/lists/{}/list-entries", list.id),
                    &[("page_size", "50")],
                )
                .await,
                "list_entries",
            );
            assert_eq!(ids(&v1), want);
            let unpaged = get(&http, &format!("{base}/lists/{}/list-entries", list.id)).await;
            assert_eq!(
                ids(unpaged.as_array().unwrap()),
                want,
                "without page_size v1 returns them all"
            );
        }
        let roots: Vec<i64> = ds
            .notes
            .iter()
            .filter(|n| n.parent_id().is_none())
            .map(|n| n.id)
            .collect();
        assert_eq!(
            ids(&records(
                &walk_v2(&http, &base, "/v2/notes?limit=100").await
            )),
            roots
        );
        let all_notes: Vec<i64> = ds.notes.iter().map(|n| n.id).collect();
        assert_eq!(
            ids(&v1_records(
                &walk_v1(&http, &base, "/notes", &[]).await,
                "notes"
            )),
            all_notes
        );
        let mut replies = BTreeMap::<i64, Vec<i64>>::new();
        for n in &ds.notes {
            if let Some(p) = n.parent_id() {
                replies.entry(p).or_default().push(n.id);
            }
        }
        for (parent, want) in replies {
            let got = records(
                &walk_v2(&http, &base, &format!("/v2/notes/{parent}/replies?limit=1")).await,
            );
            assert_eq!(ids(&got), want);
            assert!(got.iter().all(|r| r["parent"]["id"] == parent));
        }
        let reminders: Vec<i64> = ds.reminders.iter().map(|r| r.id).collect();
        assert_eq!(
            ids(&v1_records(
                &walk_v1(&http, &base, "/reminders", &[("page_size", "7")]).await,
                "reminders"
            )),
            reminders
        );
        let files: Vec<i64> = ds.entity_files.iter().map(|f| f.id).collect();
        assert_eq!(
            ids(&v1_records(
                &walk_v1(&http, &base, "/entity-files", &[("page_size", "9")]).await,
                "entity_files"
            )),
            files
        );
        double.stop().await;
    }
}

#[tokio::test]
async fn v1_interactions_need_one_type_one_entity_and_at_most_a_year() {
    let double = start(7, Sizes::small()).await;
    let base = double.base_url();
    let http = client();
    let ds = double.dataset();
    // Walk a year window by type for one person and compare with the truth.
    let who = external_participant(&ds, &ds.interactions[0]);
    let start_ms = affinity_mock::generate::NOW - 365 * 86_400_000;
    let t = |ms: i64| {
        affinity_mock::api::v1_time(ms)
            .as_str()
            .unwrap()
            .to_string()
    };
    for kind in InteractionKind::ALL {
        let want: BTreeSet<i64> = ds
            .interactions
            .iter()
            .filter(|i| {
                i.kind == kind
                    && i.person_ids.contains(&who)
                    && i.date >= start_ms
                    && i.date <= affinity_mock::generate::NOW
            })
            .map(|i| i.id)
            .collect();
        let code = kind.v1_code().to_string();
        let person = who.to_string();
        let (s, e) = (t(start_ms), t(affinity_mock::generate::NOW));
        let params = [
            ("type", code.as_str()),
            ("person_id", person.as_str()),
            ("start_time", s.as_str()),
            ("end_time", e.as_str()),
            ("page_size", "2"),
        ];
        let got = v1_records(
            &walk_v1(&http, &base, "/interactions", &params).await,
            kind.v1_collection(),
        );
        assert_eq!(
            ids(&got).into_iter().collect::<BTreeSet<_>>(),
            want,
            "{kind:?}"
        );
        assert!(got.iter().all(|r| r["type"] == kind.v1_code()));
    }
    // The rules of the endpoint: at most a year, start before end, external persons only,
    // pages of at most 100.
    let internal = ds
        .persons
        .iter()
        .find(|p| p.kind == PersonKind::Internal)
        .unwrap()
        .id;
    let refused = [
        format!(
            "type=3&person_id={who}&start_time=2020-01-01T00:00:00Z&end_time=2021-06-01T00:00:00Z"
        ),
        format!(
            "type=3&person_id={who}&start_time=2021-01-01T00:00:00Z&end_time=2020-06-01T00:00:00Z"
        ),
        format!(
            "type=3&person_id={internal}&start_time=2021-01-01T00:00:00Z&end_time=2021-06-01T00:00:00Z"
        ),
        format!(
            "type=3&person_id={who}&start_time=2021-01-01T00:00:00Z&end_time=2021-06-01T00:00:00Z&page_size=101"
        ),
        format!(
            "type=9&person_id={who}&start_time=2021-01-01T00:00:00Z&end_time=2021-06-01T00:00:00Z"
        ),
    ];
    for q in refused {
        let got = get_auth(
            &http,
            &format!("{base}/interactions?{q}"),
            Some(("basic", KEY)),
        )
        .await;
        assert_eq!(got.status, 422, "{q}: {}", got.body);
    }
    // Ids repeat across interaction types, as in Affinity: (type, id) is the key.
    let mut by_id: BTreeMap<i64, BTreeSet<InteractionKind>> = BTreeMap::new();
    for i in &ds.interactions {
        by_id.entry(i.id).or_default().insert(i.kind);
    }
    assert!(
        by_id.values().any(|k| k.len() > 1),
        "some interaction id is used by two types"
    );
}

/// A collection that is an exact multiple of the page size ends with an empty page whose
/// token is null ("its presence does not necessarily indicate that there are more").
#[tokio::test]
async fn v1_ends_an_exact_multiple_with_an_empty_page() {
    let sizes = Sizes {
        persons: 492,
        users: 8,
        ..Sizes::small()
    };
    let double = start(7, sizes).await;
    let pages = walk_v1(&client(), &double.base_url(), "/persons", &[]).await;
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0]["persons"].as_array().unwrap().len(), 500);
    assert!(pages[0]["next_page_token"].is_string());
    assert_eq!(pages[1]["persons"].as_array().unwrap().len(), 0);
    assert!(pages[1]["next_page_token"].is_null());
}

#[tokio::test]
async fn empty_data_sets_serve_empty_pages() {
    let double = start(1, Sizes::empty()).await;
    let base = double.base_url();
    let http = client();
    for path in [
        "/v2/companies",
        "/v2/opportunities",
        "/v2/lists",
        "/v2/notes",
    ] {
        let page = get(&http, &format!("{base}{path}")).await;
        assert_eq!(page["data"], serde_json::json!([]), "{path}");
        assert!(page["pagination"]["nextUrl"].is_null());
    }
    let persons = get(&http, &format!("{base}/v2/persons")).await;
    assert_eq!(
        persons["data"].as_array().unwrap().len(),
        1,
        "only the API user"
    );
    for (path, key) in [
        ("/organizations", "organizations"),
        ("/notes", "notes"),
        ("/reminders", "reminders"),
    ] {
        let page = get(&http, &format!("{base}{path}")).await;
        assert_eq!(page[key], serde_json::json!([]), "{path}");
        assert!(page["next_page_token"].is_null());
    }
}

#[tokio::test]
async fn field_data_only_when_asked_for() {
    let double = start(7, Sizes::small()).await;
    let base = double.base_url();
    let http = client();
    let ds = double.dataset();
    let plain = records(&walk_v2(&http, &base, "/v2/persons").await);
    assert!(plain.iter().all(|p| p["fields"] == serde_json::json!([])));
    let enriched = records(&walk_v2(&http, &base, "/v2/persons?fieldTypes=enriched").await);
    let n_enriched = ds
        .fields
        .iter()
        .filter(|f| f.entity == EntityKind::Person && f.kind == FieldKind::Enriched)
        .count();
    assert!(enriched.iter().all(|p| {
        let f = p["fields"].as_array().unwrap();
        f.len() == n_enriched && f.iter().all(|x| x["type"] == "enriched")
    }));
    let one = ds
        .fields
        .iter()
        .find(|f| f.entity == EntityKind::Person && f.kind == FieldKind::Global)
        .unwrap();
    let by_id = records(&walk_v2(&http, &base, &format!("/v2/persons?fieldIds={}", one.key)).await);
    assert!(
        by_id
            .iter()
            .all(|p| p["fields"].as_array().unwrap().len() == 1
                && p["fields"][0]["id"] == one.key.as_str())
    );

    // Every selected field appears, with null data where the entity has no value; multi-value
    // fields with no data are null, never [].
    let mut nulls = 0;
    for p in &enriched {
        for f in p["fields"].as_array().unwrap() {
            if f["value"]["data"].is_null() {
                nulls += 1;
            }
            assert_ne!(f["value"]["data"], serde_json::json!([]));
        }
    }
    assert!(nulls > 0, "some values are null");
}

#[tokio::test]
async fn nested_associations_truncate_at_100_in_v2_but_not_in_v1() {
    let double = start(7, Sizes::small()).await;
    let base = double.base_url();
    let http = client();
    let ds = double.dataset();
    let big = ds
        .field_values
        .iter()
        .find(|v| matches!(&v.value, Cell::PersonMulti(Some(ids)) if ids.len() > 100))
        .expect("a person-multi value over 100");
    let Cell::PersonMulti(Some(all)) = &big.value else {
        unreachable!()
    };
    let field = ds.fields.iter().find(|f| f.id == big.field_id).unwrap();
    let kind = if field.entity == EntityKind::Person {
        "persons"
    } else {
        "companies"
    };
    let v2 = get(
        &http,
        &format!("{base}/v2/{kind}/{}?fieldIds={}", big.entity_id, field.key),
    )
    .await;
    assert_eq!(
        v2["fields"][0]["value"]["data"].as_array().unwrap().len(),
        100
    );
    let selector = if field.entity == EntityKind::Person {
        "person_id"
    } else {
        "organization_id"
    };
    let v1 = get(
        &http,
        &format!("{base}/field-values?{selector}={}", big.entity_id),
    )
    .await;
    let rows: Vec<&Value> = v1
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["field_id"] == field.id)
        .collect();
    assert_eq!(rows.len(), all.len(), "v1 serves one row per value");
    let served: BTreeSet<i64> = rows.iter().map(|r| r["value"].as_i64().unwrap()).collect();
    assert_eq!(served, all.iter().copied().collect());
}

fn header(got: &Got, name: &str) -> u64 {
    got.headers
        .get(name)
        .unwrap_or_else(|| panic!("missing {name}"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn rate_limit_headers_are_honest_and_enforced_on_request() {
    let limits = RateLimits {
        per_minute: 5,
        monthly: 1_000,
        enforce: true,
        ..RateLimits::default()
    };
    let double = start_with(MockConfig {
        sizes: Sizes::small(),
        limits,
        ..MockConfig::default()
    })
    .await;
    let base = double.base_url();
    let http = client();
    for left in (0..5).rev() {
        let got = get_auth(&http, &format!("{base}/v2/lists"), Some(("bearer", KEY))).await;
        assert_eq!(got.status, 200);
        assert_eq!(header(&got, "x-ratelimit-limit-user"), 5);
        assert_eq!(header(&got, "x-ratelimit-limit-user-remaining"), left);
        assert!(header(&got, "x-ratelimit-limit-user-reset") <= 60);
        assert_eq!(header(&got, "x-ratelimit-limit-org"), 1_000);
    }
    let refused = get_auth(&http, &format!("{base}/v2/lists"), Some(("bearer", KEY))).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.body["errors"][0]["code"], "rate-limit");
    assert_eq!(header(&refused, "x-ratelimit-limit-user-remaining"), 0);
    assert_eq!(
        header(&refused, "x-ratelimit-limit-org-remaining"),
        995,
        "refused requests are not counted"
    );
    assert_eq!(double.stats().rate_limited, 1);
}

#[tokio::test]
async fn a_scaled_clock_resets_the_minute_quickly() {
    // 60x: a rate-limit minute lasts one real second.
    let limits = RateLimits {
        per_minute: 2,
        enforce: true,
        clock_scale: 60.0,
        ..RateLimits::default()
    };
    let double = start_with(MockConfig {
        sizes: Sizes::small(),
        limits,
        ..MockConfig::default()
    })
    .await;
    let url = format!("{}/v2/lists", double.base_url());
    let http = client();
    let mut refused = None;
    for _ in 0..10 {
        let got = get_auth(&http, &url, Some(("bearer", KEY))).await;
        if got.status == 429 {
            refused = Some(got);
            break;
        }
    }
    let refused = refused.expect("the third request within a scaled minute is refused");
    let reset = header(&refused, "x-ratelimit-limit-user-reset");
    assert_eq!(
        reset, 1,
        "reset is in real seconds: a scaled minute lasts one second"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let after = get_auth(&http, &url, Some(("bearer", KEY))).await;
    assert_eq!(after.status, 200, "the window has reset");
}

#[tokio::test]
async fn the_monthly_quota_is_enforced_and_rate_limit_stays_exempt() {
    let limits = RateLimits {
        monthly: 3,
        enforce: true,
        ..RateLimits::default()
    };
    let double = start_with(MockConfig {
        sizes: Sizes::small(),
        limits,
        ..MockConfig::default()
    })
    .await;
    let base = double.base_url();
    let http = client();
    for _ in 0..3 {
        assert_eq!(
            get_auth(&http, &format!("{base}/persons"), Some(("basic", KEY)))
                .await
                .status,
            200
        );
    }
    let over = get_auth(&http, &format!("{base}/persons"), Some(("basic", KEY))).await;
    assert_eq!(over.status, 429);
    assert_eq!(header(&over, "x-ratelimit-limit-org-remaining"), 0);
    let rate = get_auth(&http, &format!("{base}/rate-limit"), Some(("basic", KEY))).await;
    assert_eq!(
        rate.status, 200,
        "/rate-limit does not count against the month"
    );
    assert_eq!(rate.body["rate"]["org_monthly"]["remaining"], 0);
    assert_eq!(rate.body["rate"]["org_monthly"]["used"], 3);
    assert_eq!(
        get_auth(
            &http,
            &format!("{base}/v2/auth/whoami"),
            Some(("bearer", KEY))
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn faults_happen_exactly_where_the_script_says() {
    let plan = FaultPlan {
        script: FaultPlan::parse_script("2=429,3=500,4=503,5=drop,6=truncated,7=malformed,8=slow")
            .unwrap(),
        slow_ms: 300,
        ..FaultPlan::default()
    };
    let double = start_with(MockConfig {
        sizes: Sizes::small(),
        faults: plan,
        ..MockConfig::default()
    })
    .await;
    let url = format!("{}/v2/persons?limit=50", double.base_url());
    let http = client();
    let send = || http.get(&url).bearer_auth(KEY).send();

    assert_eq!(send().await.unwrap().status(), 200);
    let limited = send().await.unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["x-ratelimit-limit-user-remaining"], "0");
    assert_eq!(send().await.unwrap().status(), 500);
    assert_eq!(send().await.unwrap().status(), 503);
    let dropped = send().await.unwrap();
    assert_eq!(dropped.status(), 200);
    assert!(
        dropped.bytes().await.is_err(),
        "the connection closes mid-body"
    );
    let truncated = send().await.unwrap();
    assert_eq!(truncated.status(), 200);
    let text = truncated.text().await.unwrap();
    assert!(
        serde_json::from_str::<Value>(&text).is_err() && text.starts_with("{\"data\""),
        "half a JSON document"
    );
    let malformed = send().await.unwrap();
    assert_eq!(malformed.status(), 200);
    assert!(serde_json::from_str::<Value>(&malformed.text().await.unwrap()).is_err());
    let began = std::time::Instant::now();
    let slow = send().await.unwrap();
    assert!(
        began.elapsed() >= std::time::Duration::from_millis(300),
        "a slow response waits slow_ms first"
    );
    assert_eq!(slow.status(), 200);
    assert!(slow.json::<Value>().await.is_ok());
    assert_eq!(
        send().await.unwrap().status(),
        200,
        "after the script, normal service"
    );

    let stats = double.stats();
    for f in Fault::ALL {
        assert_eq!(stats.faults.get(f.name()), Some(&1), "{f} injected once");
    }
}

#[tokio::test]
async fn fault_plans_can_be_replaced_over_http() {
    let double = start(7, Sizes::small()).await;
    let base = double.base_url();
    let http = client();
    let plan = serde_json::json!({ "script": { "1": "503" } });
    let res = http
        .put(format!("{base}/__faults"))
        .json(&plan)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        get_auth(&http, &format!("{base}/v2/lists"), Some(("bearer", KEY)))
            .await
            .status,
        503
    );
    assert_eq!(
        get_auth(&http, &format!("{base}/v2/lists"), Some(("bearer", KEY)))
            .await
            .status,
        200
    );
    let bad = http
        .put(format!("{base}/__faults"))
        .body("{\"script\": {\"1\": \"teapot\"}}")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    // A seeded probabilistic plan injects faults at about its rate.
    double.set_faults(FaultPlan {
        probability: 0.5,
        kinds: vec![Fault::ServerError],
        seed: 3,
        ..FaultPlan::default()
    });
    let mut fails = 0;
    for _ in 0..60 {
        if get_auth(&http, &format!("{base}/v2/lists"), Some(("bearer", KEY)))
            .await
            .status
            == 500
        {
            fails += 1;
        }
    }
    assert!(
        (15..=45).contains(&fails),
        "about half of 60 failed, got {fails}"
    );
}

#[tokio::test]
async fn the_truth_endpoint_serves_the_data_set() {
    let double = start(7, Sizes::small()).await;
    let truth: Value = client()
        .get(format!("{}/__truth", double.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(truth, serde_json::to_value(&*double.dataset()).unwrap());
    let stats: Value = client()
        .get(format!("{}/__stats", double.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        stats["requests"], 0,
        "control endpoints are not Affinity requests"
    );
}

#[test]
fn data_sets_are_deterministic_per_seed() {
    let a = serde_json::to_string(&generate(7, &Sizes::small())).unwrap();
    let b = serde_json::to_string(&generate(7, &Sizes::small())).unwrap();
    let c = serde_json::to_string(&generate(8, &Sizes::small())).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn data_sets_have_the_variety_a_sync_must_handle() {
    let ds = generate(7, &Sizes::small());
    // Every v2 value type has data somewhere.
    let mut types = BTreeSet::new();
    for v in &ds.field_values {
        let t = serde_json::to_value(&v.value).unwrap();
        if !t["data"].is_null() {
            types.insert(t["type"].as_str().unwrap().to_string());
        }
    }
    let all: BTreeSet<String> = ValueType::ALL
        .iter()
        .map(|t| t.v2_name().to_string())
        .collect();
    assert_eq!(types, all);
    // Lists of every entity type, and an empty one.
    let kinds: BTreeSet<EntityKind> = ds.lists.iter().map(|l| l.entity).collect();
    assert_eq!(kinds.len(), 3);
    assert!(
        ds.lists
            .iter()
            .any(|l| !ds.list_entries.iter().any(|e| e.list_id == l.id))
    );
    // Unicode, missing names and emails, associations over 100.
    assert!(ds.persons.iter().any(|p| !p.first_name.is_ascii()));
    assert!(ds.persons.iter().any(|p| p.last_name.is_none()));
    assert!(ds.persons.iter().any(|p| p.primary_email.is_none()));
    assert!(ds.companies.iter().any(|c| c.domain.is_none()));
    assert!(ds.companies.iter().any(|c| c.person_ids.len() > 100));
    assert!(ds.persons.iter().any(|p| p.company_ids.is_empty()));
    // Ids are not contiguous.
    assert!(ds.persons.windows(2).any(|w| w[1].id - w[0].id > 1));
    // Replies, and notes of every root kind.
    assert!(ds.notes.iter().any(|n| n.parent_id().is_some()));
    // Interactions of all four types.
    let it: BTreeSet<InteractionKind> = ds.interactions.iter().map(|i| i.kind).collect();
    assert_eq!(it.len(), 4);
    assert!(!ds.field_value_changes.is_empty() && !ds.relationship_strengths.is_empty());
}
