//! The v1 view: Basic- or Bearer-authenticated endpoints at the root (`/persons`, ...),
//! `page_size` + `page_token` paging with `next_page_token`, snake_case bodies with integer
//! enums, and one field-value row per element of a multi-value. Shapes follow the examples of
//! `shared/affinity/api-v1.md` and are checked against them by `tests/v1_shapes.rs`.

use crate::api::*;
use crate::model::*;
use crate::paging;
use crate::store::Store;
use serde_json::{Value as Json, json};

/// v1's maximum (and default) page size, and the lower one of `/interactions`.
const V1_PAGE_MAX: usize = 500;
const INTERACTIONS_PAGE_MAX: usize = 100;

pub fn route(store: &Store, req: &Req, segments: &[&str], rate: Json) -> Reply {
    let id = |s: &str, what: &str| -> Result<Id, ApiError> {
        s.parse::<Id>()
            .map_err(|_| ApiError::unprocessable(format!("{what} must be an integer, got {s:?}")))
    };
    match segments {
        ["auth", "whoami"] => Ok(whoami(store)),
        ["rate-limit"] => Ok(rate),
        ["persons"] => search(store, req, EntityKind::Person),
        ["persons", "fields"] => Ok(fields_json(store, |f| {
            f.entity == EntityKind::Person && f.list_id.is_none()
        })),
        ["persons", pid] => get_entity(store, req, EntityKind::Person, id(pid, "person_id")?),
        ["organizations"] => search(store, req, EntityKind::Company),
        ["organizations", "fields"] => Ok(fields_json(store, |f| {
            f.entity == EntityKind::Company && f.list_id.is_none()
        })),
        ["organizations", oid] => {
            get_entity(store, req, EntityKind::Company, id(oid, "organization_id")?)
        }
        ["opportunities"] => search(store, req, EntityKind::Opportunity),
        ["opportunities", oid] => get_entity(
            store,
            req,
            EntityKind::Opportunity,
            id(oid, "opportunity_id")?,
        ),
        ["lists"] => Ok(json!(
            store
                .ds
                .lists
                .iter()
                .map(|l| list(store, l))
                .collect::<Vec<_>>()
        )),
        ["lists", lid] => {
            let l = store
                .list(id(lid, "list_id")?)
                .ok_or_else(|| ApiError::not_found("List not found"))?;
            let mut out = list(store, l);
            out["fields"] = fields_json(store, |f| f.list_id == Some(l.id));
            Ok(out)
        }
        ["lists", lid, "list-entries"] => list_entries(store, req, id(lid, "list_id")?),
        ["lists", lid, "list-entries", eid] => {
            let lid = id(lid, "list_id")?;
            let e = store
                .entry(id(eid, "list_entry_id")?)
                .filter(|e| e.list_id == lid)
                .ok_or_else(|| ApiError::not_found("List entry not found"))?;
            Ok(list_entry(store, e))
        }
        ["fields"] => all_fields(store, req),
        ["field-values"] => field_values(store, req),
        ["field-value-changes"] => field_value_changes(store, req),
        ["interactions"] => interactions(store, req),
        ["notes"] => notes(store, req),
        ["reminders"] => reminders(store, req),
        ["reminders", rid] => {
            let rid = id(rid, "reminder_id")?;
            let r = store
                .ds
                .reminders
                .iter()
                .find(|r| r.id == rid)
                .ok_or_else(|| ApiError::not_found("Reminder not found"))?;
            Ok(reminder_json(store, r))
        }
        ["entity-files"] => entity_files(store, req),
        ["entity-files", fid] => {
            let fid = id(fid, "entity_file_id")?;
            let f = store
                .ds
                .entity_files
                .iter()
                .find(|f| f.id == fid)
                .ok_or_else(|| ApiError::not_found("Entity file not found"))?;
            Ok(entity_file_json(f))
        }
        ["relationships-strengths"] => relationship_strengths(store, req),
        ["webhook"] => Ok(json!(
            store
                .ds
                .webhook_subscriptions
                .iter()
                .map(webhook)
                .collect::<Vec<_>>()
        )),
        ["webhook", wid] => {
            let wid = id(wid, "webhook_subscription_id")?;
            store
                .ds
                .webhook_subscriptions
                .iter()
                .find(|w| w.id == wid)
                .map(webhook)
                .ok_or_else(|| ApiError::not_found("Webhook subscription not found"))
        }
        _ => Err(ApiError::not_found(format!(
            "No route matches GET {}",
            req.path
        ))),
    }
}

/// One v1 page: `{<key>: [...], "next_page_token": ...}`. Like Affinity, a full page always
/// carries a token, so a collection that is an exact multiple of the page size ends with one
/// extra, empty page whose token is `null`.
fn page(
    req: &Req,
    key: &str,
    max: usize,
    total: usize,
    render: impl FnOnce(std::ops::Range<usize>) -> Vec<Json>,
) -> Reply {
    let size = page_size(req, max)?.unwrap_or(max);
    let params = req.query_without(&["page_token"]);
    let offset = match req.one("page_token") {
        None => 0,
        Some(t) => paging::v1_offset(req.path, &params, t)
            .filter(|o| *o <= total)
            .ok_or_else(|| ApiError::unprocessable("Invalid page_token variable"))?,
    };
    let range = window(offset, size, total);
    let full = range.len() == size;
    let end = range.end;
    let rows = render(range);
    let token = full.then(|| paging::v1_token(req.path, &params, size, end));
    Ok(json!({ key: rows, "next_page_token": token }))
}

fn page_size(req: &Req, max: usize) -> Result<Option<usize>, ApiError> {
    match req.one("page_size") {
        None => Ok(None),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(Some(n)),
            _ => Err(ApiError::unprocessable(format!(
                "page_size must be an integer between 1 and {max}, got {s:?}"
            ))),
        },
    }
}

fn whoami(store: &Store) -> Json {
    let me = store.person(store.ds.api_user_id).expect("api user exists");
    let t = &store.ds.tenant;
    json!({
        "tenant": { "id": t.id, "name": t.name, "subdomain": t.subdomain },
        "user": { "id": me.id, "firstName": me.first_name, "lastName": me.last_name, "email": me.primary_email },
        "grant": { "type": "api_key", "scope": "external_api", "createdAt": v1_time(crate::generate::NOW - 400 * 86_400_000) },
    })
}

fn person_type(p: &Person) -> i64 {
    match p.kind {
        PersonKind::External => 0,
        PersonKind::Internal => 1,
    }
}

/// The short person resource used inside other resources (list entries, interactions, ...).
pub fn person_short(store: &Store, id: Id) -> Json {
    match store.person(id) {
        Some(p) => json!({
            "id": p.id,
            "type": person_type(p),
            "first_name": p.first_name,
            "last_name": p.last_name,
            "primary_email": p.primary_email,
            "emails": p.emails,
        }),
        None => Json::Null,
    }
}

fn company_short(c: &Company) -> Json {
    json!({ "id": c.id, "name": c.name, "domain": c.domain, "domains": c.domains, "global": c.is_global })
}

fn entry_short(store: &Store, e: &ListEntry) -> Json {
    let mut out = json!({
        "id": e.id,
        "list_id": e.list_id,
        "creator_id": e.creator_id,
        "entity_id": e.entity_id,
        "created_at": v1_time(e.created_at),
    });
    if store.list(e.list_id).map(|l| l.entity) == Some(EntityKind::Opportunity) {
        out["entity_type"] = json!(8);
    }
    out
}

fn opportunity_json(store: &Store, o: &Opportunity) -> Json {
    let entries: Vec<Json> = store
        .entries_of_entity(EntityKind::Opportunity, o.id)
        .into_iter()
        .map(|e| entry_short(store, e))
        .collect();
    json!({
        "id": o.id,
        "name": o.name,
        "person_ids": o.person_ids,
        "organization_ids": o.company_ids,
        "list_entries": entries,
    })
}

/// `interaction_dates` and `interactions` of a person or organization.
fn interaction_summary(
    store: &Store,
    kind: EntityKind,
    id: Id,
    with_persons: bool,
) -> Option<(Json, Json)> {
    let all: Vec<&Interaction> = store.interactions_of(kind, id).collect();
    if all.is_empty() {
        return None;
    }
    let now = crate::generate::NOW;
    // Events are meetings and calls (served together as `events`).
    let pick = |events: bool,
                k: Option<InteractionKind>,
                future: bool,
                latest: bool|
     -> Option<&Interaction> {
        let it = all
            .iter()
            .copied()
            .filter(|i| {
                if events {
                    i.kind.is_event()
                } else {
                    k.is_none_or(|k| i.kind == k)
                }
            })
            .filter(|i| if future { i.date > now } else { i.date <= now });
        if latest {
            it.max_by_key(|i| (i.date, i.id))
        } else {
            it.min_by_key(|i| (i.date, i.id))
        }
    };
    let slots = [
        (
            "first_email",
            pick(false, Some(InteractionKind::Email), false, false),
        ),
        (
            "last_email",
            pick(false, Some(InteractionKind::Email), false, true),
        ),
        ("last_event", pick(true, None, false, true)),
        (
            "last_chat_message",
            pick(false, Some(InteractionKind::ChatMessage), false, true),
        ),
        ("last_interaction", pick(false, None, false, true)),
        ("next_event", pick(true, None, true, false)),
        ("first_event", pick(true, None, false, false)),
    ];
    let mut dates = serde_json::Map::new();
    let mut details = serde_json::Map::new();
    for (name, found) in slots {
        dates.insert(
            format!("{name}_date"),
            found.map(|i| v1_time(i.date)).unwrap_or(Json::Null),
        );
        let detail = found.map(|i| {
            let mut d = json!({ "date": v1_time(i.date) });
            if with_persons {
                let internal: Vec<Id> = i
                    .person_ids
                    .iter()
                    .copied()
                    .filter(|p| {
                        store
                            .person(*p)
                            .is_some_and(|p| p.kind == PersonKind::Internal)
                    })
                    .collect();
                d["person_ids"] = json!(internal);
            }
            d
        });
        details.insert(name.to_string(), detail.unwrap_or(Json::Null));
    }
    Some((Json::Object(dates), Json::Object(details)))
}

/// The interaction-date filters of the search endpoints (`min_last_email_date`, ...).
fn date_filters(req: &Req) -> Result<Vec<(String, bool, i64)>, ApiError> {
    let mut out = vec![];
    for (k, v) in &req.query {
        let (is_min, rest) = if let Some(r) = k.strip_prefix("min_") {
            (true, r)
        } else if let Some(r) = k.strip_prefix("max_") {
            (false, r)
        } else {
            continue;
        };
        let Some(slot) = rest.strip_suffix("_date") else {
            continue;
        };
        let t = parse_time(v).ok_or_else(|| {
            ApiError::unprocessable(format!("{k} must be an ISO 8601 date, got {v:?}"))
        })?;
        out.push((format!("{slot}_date"), is_min, t));
    }
    Ok(out)
}

fn search(store: &Store, req: &Req, kind: EntityKind) -> Reply {
    let term = req
        .one("term")
        .map(str::to_lowercase)
        .filter(|t| !t.is_empty());
    let with_dates = req.flag("with_interaction_dates");
    let with_persons = req.flag("with_interaction_persons");
    let with_opps = req.flag("with_opportunities");
    let filters = date_filters(req)?;
    let matches = |hay: &[&str]| {
        term.as_ref()
            .is_none_or(|t| hay.iter().any(|h| h.to_lowercase().contains(t)))
    };
    match kind {
        EntityKind::Person => {
            let with_current = req.flag("with_current_organizations");
            let rows: Vec<(&Person, Option<(Json, Json)>)> = store
                .ds
                .persons
                .iter()
                .filter(|p| {
                    let mut hay: Vec<&str> = vec![&p.first_name];
                    hay.extend(p.last_name.as_deref());
                    hay.extend(p.emails.iter().map(String::as_str));
                    matches(&hay)
                })
                .filter_map(|p| {
                    with_interactions(
                        store,
                        EntityKind::Person,
                        p.id,
                        with_dates || !filters.is_empty(),
                        with_persons,
                        &filters,
                    )
                    .map(|s| (p, s))
                })
                .collect();
            page(req, "persons", V1_PAGE_MAX, rows.len(), |r| {
                rows[r]
                    .iter()
                    .map(|(p, summary)| {
                        let mut out = person_short(store, p.id);
                        if with_opps {
                            out["opportunity_ids"] = json!(p.opportunity_ids);
                        }
                        if with_current {
                            out["current_organization_ids"] = json!(p.current_company_ids);
                        }
                        if let (true, Some((dates, details))) = (with_dates, summary) {
                            out["interaction_dates"] = dates.clone();
                            out["interactions"] = details.clone();
                        }
                        out
                    })
                    .collect()
            })
        }
        EntityKind::Company => {
            let rows: Vec<(&Company, Option<(Json, Json)>)> = store
                .ds
                .companies
                .iter()
                .filter(|c| {
                    let mut hay: Vec<&str> = vec![&c.name];
                    hay.extend(c.domains.iter().map(String::as_str));
                    matches(&hay)
                })
                .filter_map(|c| {
                    with_interactions(
                        store,
                        EntityKind::Company,
                        c.id,
                        with_dates || !filters.is_empty(),
                        with_persons,
                        &filters,
                    )
                    .map(|s| (c, s))
                })
                .collect();
            page(req, "organizations", V1_PAGE_MAX, rows.len(), |r| {
                rows[r]
                    .iter()
                    .map(|(c, summary)| {
                        let mut out = company_short(c);
                        if with_opps {
                            out["opportunity_ids"] = json!(c.opportunity_ids);
                        }
                        if let (true, Some((dates, details))) = (with_dates, summary) {
                            out["interaction_dates"] = dates.clone();
                            out["interactions"] = details.clone();
                        }
                        out
                    })
                    .collect()
            })
        }
        EntityKind::Opportunity => {
            let rows: Vec<&Opportunity> = store
                .ds
                .opportunities
                .iter()
                .filter(|o| matches(&[&o.name]))
                .collect();
            page(req, "opportunities", V1_PAGE_MAX, rows.len(), |r| {
                rows[r].iter().map(|o| opportunity_json(store, o)).collect()
            })
        }
    }
}

/// `Some(summary)` when the entity passes the interaction filters: with
/// `with_interaction_dates`, entities without interactions are left out, as documented.
#[allow(clippy::type_complexity)]
fn with_interactions(
    store: &Store,
    kind: EntityKind,
    id: Id,
    needed: bool,
    with_persons: bool,
    filters: &[(String, bool, i64)],
) -> Option<Option<(Json, Json)>> {
    if !needed {
        return Some(None);
    }
    let summary = interaction_summary(store, kind, id, with_persons)?;
    for (slot, is_min, t) in filters {
        let v = summary
            .0
            .get(slot)
            .and_then(Json::as_str)
            .and_then(parse_time)?;
        if (*is_min && v < *t) || (!*is_min && v > *t) {
            return None;
        }
    }
    Some(Some(summary))
}

fn get_entity(store: &Store, req: &Req, kind: EntityKind, id: Id) -> Reply {
    let with_dates = req.flag("with_interaction_dates");
    let with_persons = req.flag("with_interaction_persons");
    let entries: Vec<Json> = store
        .entries_of_entity(kind, id)
        .into_iter()
        .map(|e| entry_short(store, e))
        .collect();
    let mut out = match kind {
        EntityKind::Person => {
            let p = store
                .person(id)
                .ok_or_else(|| ApiError::not_found("Person not found"))?;
            let mut out = person_short(store, p.id);
            out["organization_ids"] = json!(p.company_ids);
            if req.flag("with_opportunities") {
                out["opportunity_ids"] = json!(p.opportunity_ids);
            }
            if req.flag("with_current_organizations") {
                out["current_organization_ids"] = json!(p.current_company_ids);
            }
            out
        }
        EntityKind::Company => {
            let c = store
                .company(id)
                .ok_or_else(|| ApiError::not_found("Organization not found"))?;
            let mut out = company_short(c);
            out["person_ids"] = json!(c.person_ids);
            out["opportunity_ids"] = json!(c.opportunity_ids);
            out
        }
        EntityKind::Opportunity => {
            let o = store
                .opportunity(id)
                .ok_or_else(|| ApiError::not_found("Opportunity not found"))?;
            return Ok(opportunity_json(store, o));
        }
    };
    out["list_entries"] = json!(entries);
    if with_dates {
        let (dates, details) =
            interaction_summary(store, kind, id, with_persons).unwrap_or((Json::Null, Json::Null));
        out["interaction_dates"] = dates;
        out["interactions"] = details;
    }
    Ok(out)
}

fn list(store: &Store, l: &List) -> Json {
    json!({
        "id": l.id,
        "type": l.entity.v1_code(),
        "name": l.name,
        "public": l.is_public,
        "owner_id": l.owner_id,
        "creator_id": l.creator_id,
        "list_size": store.entries_of(l.id).len(),
    })
}

fn list_entry(store: &Store, e: &ListEntry) -> Json {
    let kind = store.list(e.list_id).map(|l| l.entity);
    let entity = match kind {
        Some(EntityKind::Person) => person_short(store, e.entity_id),
        Some(EntityKind::Company) => store
            .company(e.entity_id)
            .map(company_short)
            .unwrap_or(Json::Null),
        _ => store
            .opportunity(e.entity_id)
            .map(|o| json!({ "id": o.id, "name": o.name }))
            .unwrap_or(Json::Null),
    };
    json!({
        "id": e.id,
        "list_id": e.list_id,
        "creator_id": e.creator_id,
        "entity_id": e.entity_id,
        "created_at": v1_time(e.created_at),
        "entity": entity,
    })
}

/// Without `page_size` v1 returns every entry as a bare array; with it, pages.
fn list_entries(store: &Store, req: &Req, list_id: Id) -> Reply {
    let l = store
        .list(list_id)
        .ok_or_else(|| ApiError::not_found("List not found"))?;
    let entries = store.entries_of(l.id);
    if req.one("page_size").is_none() && req.one("page_token").is_none() {
        return Ok(json!(
            entries
                .iter()
                .map(|e| list_entry(store, e))
                .collect::<Vec<_>>()
        ));
    }
    page(req, "list_entries", V1_PAGE_MAX, entries.len(), |r| {
        entries[r].iter().map(|e| list_entry(store, e)).collect()
    })
}

pub(crate) fn field_json(f: &Field, list_name: Option<&str>, with_options: bool) -> Json {
    let ranked = f.value_type == ValueType::RankedDropdown;
    let options: Vec<Json> = if ranked && with_options {
        f.dropdown_options
            .iter()
            .map(|o| {
                let color = o
                    .color
                    .as_deref()
                    .and_then(|c| COLORS.iter().position(|x| *x == c))
                    .unwrap_or(0);
                json!({ "id": o.id, "text": o.text, "rank": o.rank, "color": color })
            })
            .collect()
    } else {
        vec![]
    };
    let name = match list_name {
        Some(l) => format!("[{l}] {}", f.name),
        None => f.name.clone(),
    };
    json!({
        "id": f.id,
        "name": name,
        "list_id": f.list_id,
        "enrichment_source": f.enrichment_source.as_deref().unwrap_or("none"),
        "value_type": f.value_type.v1_code(),
        "allows_multiple": f.allows_multiple(),
        "track_changes": f.track_changes,
        "dropdown_options": options,
    })
}

fn fields_json(store: &Store, keep: impl Fn(&Field) -> bool) -> Json {
    json!(
        store
            .ds
            .fields
            .iter()
            .filter(|f| f.in_v1() && keep(f))
            .map(|f| field_json(f, None, true))
            .collect::<Vec<_>>()
    )
}

fn all_fields(store: &Store, req: &Req) -> Reply {
    let list_id = int_param(req, "list_id", false)?;
    let value_type = int_param(req, "value_type", false)?;
    let entity_type = int_param(req, "entity_type", false)?;
    let modified = req.flag("with_modified_names");
    let with_options = !req.flag("exclude_dropdown_options");
    Ok(json!(
        store
            .ds
            .fields
            .iter()
            .filter(|f| f.in_v1())
            .filter(|f| list_id.is_none() || f.list_id == list_id)
            .filter(|f| value_type.is_none() || f.value_type.v1_code() == value_type)
            .filter(|f| entity_type.is_none_or(|t| f.entity.v1_code() == t))
            .map(|f| {
                let list_name = if modified {
                    f.list_id
                        .and_then(|l| store.list(l))
                        .map(|l| l.name.as_str())
                } else {
                    None
                };
                field_json(f, list_name, with_options)
            })
            .collect::<Vec<_>>()
    ))
}

/// A single element of a value in v1 form.
fn v1_value(f: &Field, v: &Value) -> Json {
    let loc = |l: &Location| json!({ "street_address": l.street_address, "city": l.city, "state": l.state, "country": l.country, "continent": l.continent });
    match v {
        Value::Person(Some(id)) | Value::Company(Some(id)) => json!(id),
        Value::Text(Some(s)) | Value::FilterableText(Some(s)) => json!(s),
        Value::Number(Some(x)) => num(*x),
        Value::Datetime(Some(t)) => v1_time(*t),
        Value::Location(Some(l)) => loc(l),
        Value::Dropdown(Some(o)) => json!(
            f.dropdown_options
                .iter()
                .find(|x| x.id == *o)
                .map(|x| x.text.clone())
        ),
        Value::RankedDropdown(Some(o)) => match f.dropdown_options.iter().find(|x| x.id == *o) {
            Some(x) => {
                let color = x
                    .color
                    .as_deref()
                    .and_then(|c| COLORS.iter().position(|k| *k == c))
                    .unwrap_or(0);
                json!({ "id": x.id, "text": x.text, "rank": x.rank, "color": color })
            }
            None => Json::Null,
        },
        _ => Json::Null,
    }
}

/// v1 rows of one stored value: one per element, none for empty values.
fn value_rows(store: &Store, fv: &FieldValue) -> Vec<Json> {
    let Some(f) = store.field(fv.field_id) else {
        return vec![];
    };
    if !f.in_v1() {
        return vec![];
    }
    crate::generate::single_elements(&fv.value)
        .iter()
        .zip(&fv.v1_ids)
        .filter_map(|(el, id)| {
            let value = v1_value(f, el);
            (!value.is_null()).then(|| {
                json!({
                    "id": id,
                    "field_id": f.id,
                    "list_entry_id": fv.list_entry_id,
                    "entity_id": fv.entity_id,
                    "created_at": v1_time(fv.created_at),
                    "updated_at": opt_time(fv.updated_at, v1_time),
                    "value": value,
                })
            })
        })
        .collect()
}

/// Exactly one of the four entity selectors; v1 answers 422 otherwise.
fn one_selector(
    req: &Req,
    names: &[&str],
    required: bool,
) -> Result<Option<(usize, Id)>, ApiError> {
    let mut found = None;
    for (i, name) in names.iter().enumerate() {
        if let Some(v) = int_param(req, name, false)? {
            if found.is_some() {
                return Err(ApiError::unprocessable(format!(
                    "Only one of {} may be specified",
                    names.join(", ")
                )));
            }
            found = Some((i, v));
        }
    }
    if required && found.is_none() {
        return Err(ApiError::unprocessable(format!(
            "One of {} must be specified",
            names.join(", ")
        )));
    }
    Ok(found)
}

const SELECTORS: [&str; 4] = [
    "person_id",
    "organization_id",
    "opportunity_id",
    "list_entry_id",
];

fn field_values(store: &Store, req: &Req) -> Reply {
    let (which, id) = one_selector(req, &SELECTORS, true)?.expect("required");
    let mut rows = vec![];
    if which == 3 {
        let e = store
            .entry(id)
            .ok_or_else(|| ApiError::not_found("List entry not found"))?;
        for fv in store.entry_values(e.id) {
            rows.extend(value_rows(store, fv));
        }
    } else {
        let kind = [
            EntityKind::Person,
            EntityKind::Company,
            EntityKind::Opportunity,
        ][which];
        if store.entity_kind_of(id) != Some(kind) {
            return Err(ApiError::not_found(format!(
                "{} {id} not found",
                SELECTORS[which]
            )));
        }
        for fv in store.entity_values(kind, id) {
            rows.extend(value_rows(store, fv));
        }
        for e in store.entries_of_entity(kind, id) {
            for fv in store.entry_values(e.id) {
                rows.extend(value_rows(store, fv));
            }
        }
    }
    Ok(json!(rows))
}

fn field_value_changes(store: &Store, req: &Req) -> Reply {
    let field_id = int_param(req, "field_id", false)?
        .ok_or_else(|| ApiError::unprocessable("field_id is required"))?;
    let f = store
        .field(field_id)
        .filter(|f| f.in_v1())
        .ok_or_else(|| ApiError::not_found("Field not found"))?;
    if !f.track_changes {
        return Err(ApiError::unprocessable(format!(
            "Field {field_id} does not track changes"
        )));
    }
    let action = int_param(req, "action_type", false)?;
    let selector = one_selector(req, &SELECTORS, false)?;
    let rows: Vec<Json> = store
        .ds
        .field_value_changes
        .iter()
        .filter(|c| c.field_id == field_id)
        .filter(|c| action.is_none_or(|a| c.action_type == a))
        .filter(|c| match selector {
            None => true,
            Some((3, id)) => c.list_entry_id == Some(id),
            Some((_, id)) => c.entity_id == id,
        })
        .map(|c| {
            json!({
                "id": c.id,
                "field_id": c.field_id,
                "entity_id": c.entity_id,
                "list_entry_id": c.list_entry_id,
                "action_type": c.action_type,
                "changer": person_short(store, c.changer_id),
                "changed_at": v1_time(c.changed_at),
                "value": v1_value(f, &c.value),
            })
        })
        .collect();
    Ok(json!(rows))
}

fn interaction_json(store: &Store, i: &Interaction) -> Json {
    let persons: Vec<Json> = i
        .person_ids
        .iter()
        .map(|p| person_short(store, *p))
        .collect();
    let direction = if i.sent { 0 } else { 1 };
    match i.kind {
        InteractionKind::Meeting | InteractionKind::Call => {
            let attendees: Vec<Json> = i
                .person_ids
                .iter()
                .filter_map(|p| store.person(*p).and_then(|p| p.primary_email.clone()))
                .map(Json::String)
                .collect();
            json!({
                "date": v1_time(i.date),
                "id": i.id,
                "attendees": attendees,
                "start_time": v1_time(i.date),
                "end_time": opt_time(i.end_time, v1_time),
                "updated_at": Json::Null,
                "manual_creator_id": i.manual_creator_id,
                "title": i.title,
                "type": i.kind.v1_code(),
                "notes": i.note_ids,
                "persons": persons,
            })
        }
        InteractionKind::ChatMessage => json!({
            "id": i.id,
            "date": v1_time(i.date),
            "direction": direction,
            "manual_creator_id": i.manual_creator_id,
            "persons": persons,
            "type": 2,
            "notes": i.note_ids,
        }),
        InteractionKind::Email => {
            let recipients = &i.person_ids[1..];
            let (to, cc) = recipients.split_at(recipients.len() - i.cc_count);
            json!({
                "date": v1_time(i.date),
                "id": i.id,
                "subject": i.title,
                "type": 3,
                "from": person_short(store, i.person_ids[0]),
                "to": to.iter().map(|p| person_short(store, *p)).collect::<Vec<_>>(),
                "cc": cc.iter().map(|p| person_short(store, *p)).collect::<Vec<_>>(),
                "direction": direction,
            })
        }
    }
}

/// `GET /interactions`: one type, one entity and a window of at most a year per request.
fn interactions(store: &Store, req: &Req) -> Reply {
    let code = int_param(req, "type", false)?
        .ok_or_else(|| ApiError::unprocessable("type is required"))?;
    let kind = InteractionKind::from_v1_code(code)
        .ok_or_else(|| ApiError::unprocessable(format!("type must be 0, 1, 2 or 3, got {code}")))?;
    let (which, id) = one_selector(req, &SELECTORS[..3], true)?.expect("required");
    let start = req
        .one("start_time")
        .ok_or_else(|| ApiError::unprocessable("start_time is required"))?;
    let end = req
        .one("end_time")
        .ok_or_else(|| ApiError::unprocessable("end_time is required"))?;
    let start =
        parse_time(start).ok_or_else(|| ApiError::unprocessable("start_time must be ISO 8601"))?;
    let end =
        parse_time(end).ok_or_else(|| ApiError::unprocessable("end_time must be ISO 8601"))?;
    if start >= end {
        return Err(ApiError::unprocessable(
            "start_time must be before end_time",
        ));
    }
    if end - start > 366 * 86_400_000 {
        return Err(ApiError::unprocessable(
            "The date range between start_time and end_time must not exceed one year",
        ));
    }
    let entity = [
        EntityKind::Person,
        EntityKind::Company,
        EntityKind::Opportunity,
    ][which];
    if store.entity_kind_of(id) != Some(entity) {
        return Err(ApiError::not_found(format!(
            "{} {id} not found",
            SELECTORS[which]
        )));
    }
    if entity == EntityKind::Person
        && store
            .person(id)
            .is_some_and(|p| p.kind == PersonKind::Internal)
    {
        return Err(ApiError::unprocessable(
            "person_id must be an external person",
        ));
    }
    let internal = int_param(req, "internal_person_id", false)?;
    let direction = int_param(req, "direction", false)?;
    let manual_only = int_param(req, "logging_type", false)? == Some(1);
    let rows: Vec<&Interaction> = store
        .interactions_of(entity, id)
        .filter(|i| i.kind == kind && i.date >= start && i.date <= end)
        .filter(|i| internal.is_none_or(|p| i.person_ids.contains(&p)))
        .filter(|i| direction.is_none_or(|d| (d == 0) == i.sent))
        .filter(|i| !manual_only || i.manual_creator_id.is_some())
        .collect();
    page(
        req,
        kind.v1_collection(),
        INTERACTIONS_PAGE_MAX,
        rows.len(),
        |r| rows[r].iter().map(|i| interaction_json(store, i)).collect(),
    )
}

fn note_json(store: &Store, n: &Note) -> Json {
    let interaction = n.interaction().and_then(|(k, id)| store.interaction(k, id));
    let interaction_persons: Vec<Id> = match (n.parent_id(), interaction) {
        (None, Some(i)) => i.person_ids.clone(),
        _ => vec![],
    };
    let mut person_ids = n.person_ids.clone();
    for p in &interaction_persons {
        if !person_ids.contains(p) {
            person_ids.push(*p);
        }
    }
    let note_type = match (&n.kind, &n.html) {
        (NoteKind::AiNotetaker { .. } | NoteKind::AiNotetakerReply { .. }, _) => 3,
        (_, Some(_)) => 2,
        (_, None) => 0,
    };
    json!({
        "id": n.id,
        "creator_id": n.creator_id,
        "person_ids": person_ids,
        "associated_person_ids": n.person_ids,
        "interaction_person_ids": interaction_persons,
        "interaction_id": n.interaction().map(|i| i.1),
        "interaction_type": n.interaction().map(|i| i.0.v1_code()),
        "is_meeting": matches!(n.interaction(), Some((InteractionKind::Meeting | InteractionKind::Call, _))),
        "mentioned_person_ids": n.mentioned_person_ids,
        "organization_ids": n.company_ids,
        "opportunity_ids": n.opportunity_ids,
        "parent_id": n.parent_id(),
        "content": n.html.clone().unwrap_or_default(),
        "type": note_type,
        "created_at": v1_time(n.created_at),
        "updated_at": opt_time(n.updated_at, v1_time),
    })
}

fn notes(store: &Store, req: &Req) -> Reply {
    let person = int_param(req, "person_id", false)?;
    let company = int_param(req, "organization_id", false)?;
    let opp = int_param(req, "opportunity_id", false)?;
    let creator = int_param(req, "creator_id", false)?;
    let rows: Vec<Json> = store
        .ds
        .notes
        .iter()
        .map(|n| note_json(store, n))
        .filter(|n| {
            person.is_none_or(|p| {
                n["person_ids"]
                    .as_array()
                    .is_some_and(|a| a.contains(&json!(p)))
            })
        })
        .filter(|n| {
            company.is_none_or(|c| {
                n["organization_ids"]
                    .as_array()
                    .is_some_and(|a| a.contains(&json!(c)))
            })
        })
        .filter(|n| {
            opp.is_none_or(|o| {
                n["opportunity_ids"]
                    .as_array()
                    .is_some_and(|a| a.contains(&json!(o)))
            })
        })
        .filter(|n| creator.is_none_or(|c| n["creator_id"] == json!(c)))
        .collect();
    page(req, "notes", V1_PAGE_MAX, rows.len(), |r| rows[r].to_vec())
}

fn reminders(store: &Store, req: &Req) -> Reply {
    let filters: Vec<(&str, Option<i64>)> = [
        "person_id",
        "organization_id",
        "opportunity_id",
        "creator_id",
        "owner_id",
        "completer_id",
        "type",
        "reset_type",
        "status",
    ]
    .iter()
    .map(|k| int_param(req, k, false).map(|v| (*k, v)))
    .collect::<Result<_, _>>()?;
    let get = |k: &str| filters.iter().find(|(n, _)| *n == k).and_then(|(_, v)| *v);
    if get("type") == Some(1) && get("reset_type").is_none() {
        return Err(ApiError::unprocessable(
            "reset_type is required when type is 1",
        ));
    }
    let due_before = req
        .one("due_before")
        .map(|s| {
            parse_time(s).ok_or_else(|| ApiError::unprocessable("due_before must be ISO 8601"))
        })
        .transpose()?;
    let due_after = req
        .one("due_after")
        .map(|s| parse_time(s).ok_or_else(|| ApiError::unprocessable("due_after must be ISO 8601")))
        .transpose()?;
    let rows: Vec<&Reminder> = store
        .ds
        .reminders
        .iter()
        .filter(|r| {
            let eq = |k: &str, v: Option<i64>| get(k).is_none_or(|x| Some(x) == v);
            eq("person_id", r.person_id)
                && eq("organization_id", r.company_id)
                && eq("opportunity_id", r.opportunity_id)
                && eq("creator_id", Some(r.creator_id))
                && eq("owner_id", Some(r.owner_id))
                && eq("completer_id", r.completer_id)
                && eq("type", Some(r.kind))
                && eq("reset_type", r.reset_type)
                && eq("status", Some(r.status))
                && due_before.is_none_or(|t| r.due_date < t)
                && due_after.is_none_or(|t| r.due_date > t)
        })
        .collect();
    page(req, "reminders", V1_PAGE_MAX, rows.len(), |range| {
        rows[range]
            .iter()
            .map(|r| reminder_json(store, r))
            .collect()
    })
}

/// One reminder in v1 form (`GET /reminders` and `GET /reminders/{id}`).
fn reminder_json(store: &Store, r: &Reminder) -> Json {
    json!({
        "id": r.id,
        "type": r.kind,
        "created_at": v1_time(r.created_at),
        "completed_at": opt_time(r.completed_at, v1_time),
        "content": r.content,
        "due_date": v1_time(r.due_date),
        "reset_type": r.reset_type,
        "reminder_days": r.reminder_days,
        "status": r.status,
        "creator": person_short(store, r.creator_id),
        "owner": person_short(store, r.owner_id),
        "completer": r.completer_id.map(|c| person_short(store, c)),
        "person": r.person_id.map(|p| person_short(store, p)),
        // The reminder example documents `crunchbase_uuid`; Affinity never
        // exposes Crunchbase data through the API, so it is always null.
        "organization": r.company_id.and_then(|c| store.company(c)).map(|c| {
            let mut o = company_short(c);
            o["crunchbase_uuid"] = Json::Null;
            o
        }),
        "opportunity": r.opportunity_id.and_then(|o| store.opportunity(o)).map(|o| json!({ "id": o.id, "name": o.name })),
    })
}

fn entity_files(store: &Store, req: &Req) -> Reply {
    let person = int_param(req, "person_id", false)?;
    let company = int_param(req, "organization_id", false)?;
    let opp = int_param(req, "opportunity_id", false)?;
    let rows: Vec<&EntityFile> = store
        .ds
        .entity_files
        .iter()
        .filter(|f| person.is_none_or(|p| f.person_id == Some(p)))
        .filter(|f| company.is_none_or(|c| f.company_id == Some(c)))
        .filter(|f| opp.is_none_or(|o| f.opportunity_id == Some(o)))
        .collect();
    page(req, "entity_files", V1_PAGE_MAX, rows.len(), |r| {
        rows[r].iter().map(|f| entity_file_json(f)).collect()
    })
}

/// One entity file in v1 form (`GET /entity-files` and `GET /entity-files/{id}`).
fn entity_file_json(f: &EntityFile) -> Json {
    json!({
        "id": f.id,
        "name": f.name,
        "size": f.size,
        "person_id": f.person_id,
        "organization_id": f.company_id,
        "opportunity_id": f.opportunity_id,
        "created_at": v1_time(f.created_at),
        "uploader_id": f.uploader_id,
    })
}

fn relationship_strengths(store: &Store, req: &Req) -> Reply {
    let external = int_param(req, "external_id", false)?
        .ok_or_else(|| ApiError::unprocessable("external_id is required"))?;
    let internal = int_param(req, "internal_id", false)?;
    Ok(json!(
        store
            .ds
            .relationship_strengths
            .iter()
            .filter(|r| r.external_id == external && internal.is_none_or(|i| r.internal_id == i))
            .map(|r| json!({ "internal_id": r.internal_id, "external_id": r.external_id, "strength": r.strength }))
            .collect::<Vec<_>>()
    ))
}

pub fn webhook(w: &WebhookSubscription) -> Json {
    json!({
        "id": w.id,
        "webhook_url": w.webhook_url,
        "subscriptions": w.subscriptions,
        "disabled": w.disabled,
        "created_by": w.created_by,
    })
}
