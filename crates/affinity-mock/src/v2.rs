//! The v2 view: Bearer-authenticated `/v2/...` endpoints with `limit` + `cursor` paging,
//! absolute `pagination.nextUrl`, camelCase bodies and typed field values that appear only
//! when asked for with `fieldTypes` / `fieldIds`. Shapes follow the official OpenAPI spec and
//! are checked against its schemas by `tests/v2_schema.rs`.

use crate::api::*;
use crate::model::*;
use crate::paging;
use crate::store::Store;
use serde_json::{Value as Json, json};

/// v2 truncates nested person/company arrays at 100 entries.
const NESTED_MAX: usize = 100;

/// The `limit` bounds of an endpoint, from the spec.
#[derive(Clone, Copy)]
struct Limits {
    default: usize,
    min: usize,
    max: usize,
}

/// Persons, companies, lists, entries, fields, saved views: default and maximum 100.
const PAGED: Limits = Limits {
    default: 100,
    min: 1,
    max: 100,
};
/// Notes and replies: default 20, 0 to 100.
const NOTES_PAGED: Limits = Limits {
    default: 20,
    min: 0,
    max: 100,
};

pub fn route(store: &Store, req: &Req, segments: &[&str]) -> Reply {
    let id = |s: &str, what: &str| -> Result<Id, ApiError> {
        s.parse::<Id>().ok().filter(|v| *v >= 1).ok_or_else(|| {
            ApiError::validation(
                what,
                format!("{what} must be a positive integer, got {s:?}"),
            )
        })
    };
    match segments {
        ["auth", "whoami"] => Ok(whoami(store)),
        ["persons"] => entities(store, req, EntityKind::Person),
        ["persons", "fields"] => entity_fields(store, req, EntityKind::Person),
        ["persons", pid] => entity(store, req, EntityKind::Person, id(pid, "personId")?),
        ["companies"] => entities(store, req, EntityKind::Company),
        ["companies", "fields"] => entity_fields(store, req, EntityKind::Company),
        ["companies", cid] => entity(store, req, EntityKind::Company, id(cid, "companyId")?),
        ["opportunities"] => opportunities(store, req),
        ["opportunities", oid] => {
            let o = store
                .opportunity(id(oid, "opportunityId")?)
                .ok_or_else(|| ApiError::not_found("Opportunity not found"))?;
            Ok(opportunity(o))
        }
        ["lists"] => {
            let lists = &store.ds.lists;
            page(req, PAGED, lists.len(), |r| {
                lists[r].iter().map(list).collect()
            })
        }
        ["lists", lid] => Ok(list(find_list(store, id(lid, "listId")?)?)),
        ["lists", lid, "fields"] => {
            let l = find_list(store, id(lid, "listId")?)?;
            let fields = list_fields(store, l);
            page(req, PAGED, fields.len(), |r| {
                fields[r].iter().map(|f| field_metadata(f)).collect()
            })
        }
        ["lists", lid, "list-entries"] => {
            list_entries(store, req, find_list(store, id(lid, "listId")?)?)
        }
        ["lists", lid, "list-entries", eid] => {
            let l = find_list(store, id(lid, "listId")?)?;
            let e = store
                .entry(id(eid, "listEntryId")?)
                .filter(|e| e.list_id == l.id)
                .ok_or_else(|| ApiError::not_found("List entry not found"))?;
            let selected = selected_fields(store, req, l.entity, Some(l))?;
            Ok(list_entry(store, l, e, &selected))
        }
        ["lists", lid, "saved-views"] => {
            let l = find_list(store, id(lid, "listId")?)?;
            let views: Vec<&SavedView> = store
                .ds
                .saved_views
                .iter()
                .filter(|v| v.list_id == l.id)
                .collect();
            page(req, PAGED, views.len(), |r| {
                views[r].iter().map(|v| saved_view(v)).collect()
            })
        }
        ["lists", lid, "saved-views", vid] => {
            let l = find_list(store, id(lid, "listId")?)?;
            Ok(saved_view(find_view(store, l, id(vid, "viewId")?)?))
        }
        ["lists", lid, "saved-views", vid, "list-entries"] => {
            let l = find_list(store, id(lid, "listId")?)?;
            let view = find_view(store, l, id(vid, "viewId")?)?;
            let entries: Vec<&ListEntry> = store
                .entries_of(l.id)
                .into_iter()
                .filter(|e| view.shows(e))
                .collect();
            let fields: Vec<&Field> = list_fields(store, l)
                .into_iter()
                .filter(|f| view.field_keys.contains(&f.key))
                .collect();
            page(req, PAGED, entries.len(), |r| {
                entries[r]
                    .iter()
                    .map(|e| list_entry(store, l, e, &fields))
                    .collect()
            })
        }
        ["notes"] => notes(store, req),
        ["notes", nid] => {
            let nid = id(nid, "noteId")?;
            let n = store
                .note(nid)
                .ok_or_else(|| ApiError::not_found("Note not found"))?;
            let includes = note_includes(req)?;
            Ok(note(store, n, &includes))
        }
        ["notes", nid, "replies"] => {
            let nid = id(nid, "noteId")?;
            let parent = store
                .note(nid)
                .filter(|n| n.parent_id().is_none())
                .ok_or_else(|| ApiError::not_found("Note not found"))?;
            let filter = NoteFilter::parse(req.one("filter"))?;
            let replies: Vec<&Note> = store
                .ds
                .notes
                .iter()
                .filter(|n| n.parent_id() == Some(parent.id) && filter.keeps(n))
                .collect();
            let mut body = page(req, NOTES_PAGED, replies.len(), |r| {
                replies[r].iter().map(|n| note(store, n, &[])).collect()
            })?;
            if req.flag("totalCount") {
                body["pagination"]["totalCount"] = json!(replies.len());
            }
            Ok(body)
        }
        _ => Err(ApiError::not_found(format!(
            "No route matches GET {}",
            req.path
        ))),
    }
}

fn find_list(store: &Store, id: Id) -> Result<&List, ApiError> {
    store
        .list(id)
        .ok_or_else(|| ApiError::not_found(format!("List {id} not found")))
}

fn find_view<'a>(store: &'a Store, l: &List, id: Id) -> Result<&'a SavedView, ApiError> {
    store
        .ds
        .saved_views
        .iter()
        .find(|v| v.id == id && v.list_id == l.id)
        .ok_or_else(|| ApiError::not_found(format!("Saved view {id} not found")))
}

/// Serves one page of `total` records; `render` turns the page's index range into JSON.
/// `nextUrl` repeats the request's own query with the next cursor, on the double's base URL.
fn page(
    req: &Req,
    limits: Limits,
    total: usize,
    render: impl FnOnce(std::ops::Range<usize>) -> Vec<Json>,
) -> Reply {
    let limit = match req.one("limit") {
        None => limits.default,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (limits.min..=limits.max).contains(&n) => n,
            _ => {
                return Err(ApiError::validation(
                    "limit",
                    format!(
                        "limit must be an integer between {} and {}, got {s:?}",
                        limits.min, limits.max
                    ),
                ));
            }
        },
    };
    let offset = match req.one("cursor") {
        None => 0,
        Some(c) => paging::v2_offset(req.path, c)
            .filter(|o| *o <= total)
            .ok_or_else(|| ApiError::bad_request("Invalid cursor"))?,
    };
    let range = window(offset, limit, total);
    let end = range.end;
    let rest = req.query_without(&["cursor"]);
    let url = |cursor: String| {
        let sep = if rest.is_empty() { "" } else { "&" };
        format!("{}{}?{rest}{sep}cursor={cursor}", req.base_url, req.path)
    };
    let next = (end < total && limit > 0).then(|| url(paging::v2_cursor(req.path, end, true)));
    let prev = (offset > 0).then(|| {
        url(paging::v2_cursor(
            req.path,
            offset.saturating_sub(limit),
            false,
        ))
    });
    Ok(json!({ "data": render(range), "pagination": { "nextUrl": next, "prevUrl": prev } }))
}

fn whoami(store: &Store) -> Json {
    let me = store.person(store.ds.api_user_id).expect("api user exists");
    let t = &store.ds.tenant;
    json!({
        "tenant": { "id": t.id, "name": t.name, "subdomain": format!("{}.affinity.co", t.subdomain) },
        "user": {
            "id": me.id,
            "firstName": me.first_name,
            "lastName": me.last_name,
            "emailAddress": me.primary_email,
        },
        "grant": { "type": "api-key", "scopes": ["api"], "createdAt": v2_time(crate::generate::NOW - 400 * 86_400_000) },
    })
}

pub fn person_data(store: &Store, id: Id) -> Json {
    match store.person(id) {
        Some(p) => json!({
            "firstName": p.first_name,
            "id": p.id,
            "lastName": p.last_name,
            "primaryEmailAddress": p.primary_email,
            "type": match p.kind { PersonKind::Internal => "internal", PersonKind::External => "external" },
        }),
        None => Json::Null,
    }
}

fn company_data(store: &Store, id: Id) -> Json {
    match store.company(id) {
        Some(c) => json!({ "domain": c.domain, "id": c.id, "name": c.name }),
        None => Json::Null,
    }
}

fn location(l: &Location) -> Json {
    json!({
        "city": l.city,
        "continent": l.continent,
        "country": l.country,
        "state": l.state,
        "streetAddress": l.street_address,
    })
}

fn attendee(store: &Store, id: Id) -> Json {
    let email = store.person(id).and_then(|p| p.primary_email.clone());
    json!({ "emailAddress": email, "person": person_data(store, id) })
}

/// The interaction object behind a relationship-intelligence value.
fn interaction(store: &Store, kind: InteractionKind, id: Id) -> Json {
    let Some(i) = store.interaction(kind, id) else {
        return Json::Null;
    };
    let people = &i.person_ids;
    match kind {
        InteractionKind::Email => {
            let recipients = &people[1..];
            let (to, cc) = recipients.split_at(recipients.len() - i.cc_count);
            json!({
                "cc": cc.iter().map(|p| attendee(store, *p)).collect::<Vec<_>>(),
                "from": attendee(store, people[0]),
                "id": i.id,
                "sentAt": v2_time(i.date),
                "subject": i.title,
                "to": to.iter().map(|p| attendee(store, *p)).collect::<Vec<_>>(),
                "type": "email",
            })
        }
        InteractionKind::Meeting => json!({
            "allDay": i.all_day,
            "attendees": people.iter().map(|p| attendee(store, *p)).collect::<Vec<_>>(),
            "endTime": opt_time(i.end_time, v2_time),
            "id": i.id,
            "startTime": v2_time(i.date),
            "title": i.title,
            "type": "meeting",
        }),
        InteractionKind::Call => json!({
            "attendees": people.iter().map(|p| attendee(store, *p)).collect::<Vec<_>>(),
            "id": i.id,
            "startTime": v2_time(i.date),
            "type": "call",
        }),
        InteractionKind::ChatMessage => json!({
            "direction": if i.sent { "sent" } else { "received" },
            "id": i.id,
            // v2 requires a manual creator; automatically logged chats credit the sender.
            "manualCreator": person_data(store, i.manual_creator_id.unwrap_or(people[0])),
            "participants": people.iter().map(|p| person_data(store, *p)).collect::<Vec<_>>(),
            "sentAt": v2_time(i.date),
            "type": "chat-message",
        }),
    }
}

fn option_of(f: &Field, id: Id) -> Option<&DropdownOption> {
    f.dropdown_options.iter().find(|o| o.id == id)
}

/// The `data` of a field value; `None` renders as `null` (v2 also uses `null`, never `[]`,
/// for multi-value fields with no data).
fn value_data(store: &Store, f: &Field, v: Option<&Value>) -> Json {
    let persons = |ids: &[Id]| {
        ids.iter()
            .take(NESTED_MAX)
            .map(|p| person_data(store, *p))
            .collect::<Vec<_>>()
    };
    let companies = |ids: &[Id]| {
        ids.iter()
            .take(NESTED_MAX)
            .map(|c| company_data(store, *c))
            .collect::<Vec<_>>()
    };
    let Some(v) = v else { return Json::Null };
    match v {
        Value::Person(Some(p)) => person_data(store, *p),
        Value::PersonMulti(Some(ps)) => json!(persons(ps)),
        Value::Company(Some(c)) => company_data(store, *c),
        Value::CompanyMulti(Some(cs)) => json!(companies(cs)),
        Value::FilterableText(Some(s)) | Value::Text(Some(s)) => json!(s),
        Value::FilterableTextMulti(Some(v)) => json!(v),
        Value::Number(Some(x)) => num(*x),
        Value::NumberMulti(Some(xs)) => json!(xs.iter().map(|x| num(*x)).collect::<Vec<_>>()),
        Value::Datetime(Some(t)) => v2_time(*t),
        Value::Location(Some(l)) => location(l),
        Value::LocationMulti(Some(ls)) => json!(ls.iter().map(location).collect::<Vec<_>>()),
        Value::RankedDropdown(Some(o)) => match option_of(f, *o) {
            Some(o) => {
                json!({ "color": o.color, "dropdownOptionId": o.id, "rank": o.rank, "text": o.text })
            }
            None => Json::Null,
        },
        Value::Dropdown(Some(o)) => match option_of(f, *o) {
            Some(o) => json!({ "dropdownOptionId": o.id, "text": o.text }),
            None => Json::Null,
        },
        Value::DropdownMulti(Some(os)) => json!(
            os.iter()
                .filter_map(|o| option_of(f, *o))
                .map(|o| json!({ "dropdownOptionId": o.id, "text": o.text }))
                .collect::<Vec<_>>()
        ),
        Value::FormulaNumber(Some(x)) => json!({ "calculatedValue": num(*x) }),
        Value::Interaction(Some((k, id))) => interaction(store, *k, *id),
        _ => Json::Null,
    }
}

fn field(store: &Store, f: &Field, v: Option<&Value>) -> Json {
    json!({
        "enrichmentSource": f.enrichment_source,
        "id": f.key,
        "name": f.name,
        "type": f.kind.v2_name(),
        "value": { "data": value_data(store, f, v), "type": f.value_type.v2_name() },
    })
}

fn field_metadata(f: &Field) -> Json {
    json!({
        "enrichmentSource": f.enrichment_source,
        "id": f.key,
        "name": f.name,
        "type": f.kind.v2_name(),
        "valueType": f.value_type.v2_name(),
    })
}

/// Entity-level fields (enriched, global, relationship intelligence) of one entity kind.
fn entity_level_fields(store: &Store, kind: EntityKind) -> Vec<&Field> {
    store
        .ds
        .fields
        .iter()
        .filter(|f| f.entity == kind && f.list_id.is_none())
        .collect()
}

/// The fields a list shows: the entity's fields plus the list's own.
fn list_fields<'a>(store: &'a Store, l: &List) -> Vec<&'a Field> {
    store
        .ds
        .fields
        .iter()
        .filter(|f| f.entity == l.entity && (f.list_id.is_none() || f.list_id == Some(l.id)))
        .collect()
}

/// The fields a request selects with `fieldTypes` and `fieldIds`, in catalog order.
fn selected_fields<'a>(
    store: &'a Store,
    req: &Req,
    kind: EntityKind,
    list_ctx: Option<&List>,
) -> Result<Vec<&'a Field>, ApiError> {
    let allowed: &[&str] = if list_ctx.is_some() {
        &["enriched", "global", "list", "relationship-intelligence"]
    } else {
        &["enriched", "global", "relationship-intelligence"]
    };
    let types = req.all("fieldTypes");
    for t in &types {
        if !allowed.contains(t) {
            return Err(ApiError::validation(
                "fieldTypes",
                format!(
                    "fieldTypes must be one of {}, got {t:?}",
                    allowed.join(", ")
                ),
            ));
        }
    }
    let candidates = match list_ctx {
        Some(l) => list_fields(store, l),
        None => entity_level_fields(store, kind),
    };
    let ids = req.all("fieldIds");
    for id in &ids {
        if !candidates.iter().any(|f| f.key == *id) {
            return Err(ApiError::validation(
                "fieldIds",
                format!("Field {id:?} does not exist on this resource"),
            ));
        }
    }
    Ok(candidates
        .into_iter()
        .filter(|f| types.contains(&f.kind.v2_name()) || ids.contains(&f.key.as_str()))
        .collect())
}

fn entity_field_values(
    store: &Store,
    kind: EntityKind,
    id: Id,
    entry: Option<Id>,
) -> Vec<&FieldValue> {
    let mut values: Vec<&FieldValue> = store.entity_values(kind, id).collect();
    if let Some(e) = entry {
        values.extend(store.entry_values(e));
    }
    values
}

fn fields_json(store: &Store, selected: &[&Field], values: &[&FieldValue]) -> Json {
    json!(
        selected
            .iter()
            .map(|f| field(
                store,
                f,
                values.iter().find(|v| v.field_id == f.id).map(|v| &v.value)
            ))
            .collect::<Vec<_>>()
    )
}

fn person(store: &Store, p: &Person, selected: &[&Field], entry: Option<Id>) -> Json {
    let values = entity_field_values(store, EntityKind::Person, p.id, entry);
    json!({
        "emailAddresses": p.emails,
        "fields": fields_json(store, selected, &values),
        "firstName": p.first_name,
        "id": p.id,
        "lastName": p.last_name,
        "primaryEmailAddress": p.primary_email,
        "type": match p.kind { PersonKind::Internal => "internal", PersonKind::External => "external" },
    })
}

fn company(store: &Store, c: &Company, selected: &[&Field], entry: Option<Id>) -> Json {
    let values = entity_field_values(store, EntityKind::Company, c.id, entry);
    json!({
        "domain": c.domain,
        "domains": c.domains,
        "fields": fields_json(store, selected, &values),
        "id": c.id,
        "isGlobal": c.is_global,
        "name": c.name,
    })
}

fn opportunity(o: &Opportunity) -> Json {
    json!({ "id": o.id, "listId": o.list_id, "name": o.name })
}

fn entities(store: &Store, req: &Req, kind: EntityKind) -> Reply {
    let selected = selected_fields(store, req, kind, None)?;
    let mut wanted = vec![];
    for s in req.all("ids") {
        wanted.push(s.parse::<Id>().map_err(|_| {
            ApiError::validation("ids", format!("ids must be integers, got {s:?}"))
        })?);
    }
    match kind {
        EntityKind::Person => {
            let rows: Vec<&Person> = store
                .ds
                .persons
                .iter()
                .filter(|p| wanted.is_empty() || wanted.contains(&p.id))
                .collect();
            page(req, PAGED, rows.len(), |r| {
                rows[r]
                    .iter()
                    .map(|p| person(store, p, &selected, None))
                    .collect()
            })
        }
        _ => {
            let rows: Vec<&Company> = store
                .ds
                .companies
                .iter()
                .filter(|c| wanted.is_empty() || wanted.contains(&c.id))
                .collect();
            page(req, PAGED, rows.len(), |r| {
                rows[r]
                    .iter()
                    .map(|c| company(store, c, &selected, None))
                    .collect()
            })
        }
    }
}

fn entity(store: &Store, req: &Req, kind: EntityKind, id: Id) -> Reply {
    let selected = selected_fields(store, req, kind, None)?;
    match kind {
        EntityKind::Person => store
            .person(id)
            .map(|p| person(store, p, &selected, None))
            .ok_or_else(|| ApiError::not_found(format!("Person {id} not found"))),
        _ => store
            .company(id)
            .map(|c| company(store, c, &selected, None))
            .ok_or_else(|| ApiError::not_found(format!("Company {id} not found"))),
    }
}

fn entity_fields(store: &Store, req: &Req, kind: EntityKind) -> Reply {
    let fields = entity_level_fields(store, kind);
    page(req, PAGED, fields.len(), |r| {
        fields[r].iter().map(|f| field_metadata(f)).collect()
    })
}

fn opportunities(store: &Store, req: &Req) -> Reply {
    let mut wanted = vec![];
    for s in req.all("ids") {
        wanted.push(s.parse::<Id>().map_err(|_| {
            ApiError::validation("ids", format!("ids must be integers, got {s:?}"))
        })?);
    }
    let rows: Vec<&Opportunity> = store
        .ds
        .opportunities
        .iter()
        .filter(|o| wanted.is_empty() || wanted.contains(&o.id))
        .collect();
    page(req, PAGED, rows.len(), |r| {
        rows[r].iter().map(|o| opportunity(o)).collect()
    })
}

fn list(l: &List) -> Json {
    json!({
        "creatorId": l.creator_id,
        "id": l.id,
        "isPublic": l.is_public,
        "name": l.name,
        "ownerId": l.owner_id,
        "type": l.entity.v2_name(),
    })
}

fn saved_view(v: &SavedView) -> Json {
    json!({ "createdAt": v2_time(v.created_at), "id": v.id, "name": v.name, "type": v.kind })
}

fn list_entry(store: &Store, l: &List, e: &ListEntry, selected: &[&Field]) -> Json {
    let entity = match l.entity {
        EntityKind::Person => store.person(e.entity_id).map(|p| person(store, p, selected, Some(e.id))),
        EntityKind::Company => store.company(e.entity_id).map(|c| company(store, c, selected, Some(e.id))),
        EntityKind::Opportunity => store.opportunity(e.entity_id).map(|o| {
            let values = entity_field_values(store, EntityKind::Opportunity, o.id, Some(e.id));
            json!({ "fields": fields_json(store, selected, &values), "id": o.id, "listId": o.list_id, "name": o.name })
        }),
    };
    json!({
        "createdAt": v2_time(e.created_at),
        "creatorId": e.creator_id,
        "entity": entity.unwrap_or(Json::Null),
        "id": e.id,
        "listId": e.list_id,
        "type": l.entity.v2_name(),
    })
}

fn list_entries(store: &Store, req: &Req, l: &List) -> Reply {
    let selected = selected_fields(store, req, l.entity, Some(l))?;
    let entries = store.entries_of(l.id);
    page(req, PAGED, entries.len(), |r| {
        entries[r]
            .iter()
            .map(|e| list_entry(store, l, e, &selected))
            .collect()
    })
}

/// The subset of v2's filter language the notes endpoints need for incremental syncs:
/// `createdAt` / `updatedAt` compared with `>`, `>=`, `<`, `<=`, `=`, joined by `&`.
struct NoteFilter {
    clauses: Vec<(bool, &'static str, i64)>,
}

impl NoteFilter {
    fn parse(filter: Option<&str>) -> Result<Self, ApiError> {
        let mut clauses = vec![];
        let Some(f) = filter else {
            return Ok(NoteFilter { clauses });
        };
        for part in f.split('&').map(str::trim).filter(|p| !p.is_empty()) {
            let (prop, rest) = if let Some(r) = part.strip_prefix("createdAt") {
                (false, r)
            } else if let Some(r) = part.strip_prefix("updatedAt") {
                (true, r)
            } else {
                return Err(ApiError::bad_request(format!(
                    "Unsupported filter property in {part:?}"
                )));
            };
            let rest = rest.trim_start();
            let (op, value) = [">=", "<=", ">", "<", "="]
                .iter()
                .find_map(|op| rest.strip_prefix(op).map(|v| (*op, v)))
                .ok_or_else(|| {
                    ApiError::bad_request(format!("Invalid filter operator in {part:?}"))
                })?;
            let t = parse_time(value).ok_or_else(|| {
                ApiError::bad_request(format!("Invalid datetime in filter {part:?}"))
            })?;
            clauses.push((prop, op, t));
        }
        Ok(NoteFilter { clauses })
    }

    fn keeps(&self, n: &Note) -> bool {
        self.clauses.iter().all(|(updated, op, t)| {
            let v = if *updated {
                n.updated_at
            } else {
                Some(n.created_at)
            };
            let Some(v) = v else { return false };
            match *op {
                ">=" => v >= *t,
                "<=" => v <= *t,
                ">" => v > *t,
                "<" => v < *t,
                _ => v == *t,
            }
        })
    }
}

fn note(store: &Store, n: &Note, includes: &[&str]) -> Json {
    let mentions: Vec<Json> = n
        .mentioned_person_ids
        .iter()
        .enumerate()
        .map(|(k, p)| json!({ "id": (n.id % 100_000) * 10 + k as i64 + 1, "person": person_data(store, *p), "type": "person" }))
        .collect();
    let mut out = json!({
        "content": { "html": n.html },
        "createdAt": v2_time(n.created_at),
        "creator": person_data(store, n.creator_id),
        "id": n.id,
        "mentions": mentions,
        "updatedAt": opt_time(n.updated_at, v2_time),
    });
    match &n.kind {
        NoteKind::Entities => out["type"] = json!("entities"),
        NoteKind::Interaction { kind, id } => {
            out["type"] = json!("interaction");
            out["interaction"] = json!({ "id": id, "type": kind.v2_name() });
        }
        NoteKind::AiNotetaker { meeting_id } => {
            out["type"] = json!("ai-notetaker");
            out["interaction"] = json!({ "id": meeting_id, "type": "meeting" });
        }
        NoteKind::UserReply { parent_id } => {
            out["type"] = json!("user-reply");
            out["parent"] = json!({ "id": parent_id });
        }
        NoteKind::AiNotetakerReply {
            parent_id,
            meeting_id,
        } => {
            out["type"] = json!("ai-notetaker-reply");
            out["parent"] = json!({ "id": parent_id });
            out["interaction"] = json!({ "id": meeting_id, "type": "meeting" });
        }
    }
    if n.parent_id().is_none() {
        out["permissions"] =
            json!({ "owner": person_data(store, n.creator_id), "sharingType": n.sharing });
        for inc in includes {
            match *inc {
                "personsPreview" => {
                    out["personsPreview"] = json!({
                        "data": n.person_ids.iter().take(NESTED_MAX).map(|p| person_data(store, *p)).collect::<Vec<_>>(),
                        "totalCount": n.person_ids.len(),
                    })
                }
                "companiesPreview" => {
                    out["companiesPreview"] = json!({
                        "data": n.company_ids.iter().take(NESTED_MAX).map(|c| company_data(store, *c)).collect::<Vec<_>>(),
                        "totalCount": n.company_ids.len(),
                    })
                }
                "opportunitiesPreview" => {
                    out["opportunitiesPreview"] = json!({
                        "data": n.opportunity_ids.iter().filter_map(|o| store.opportunity(*o)).map(opportunity).collect::<Vec<_>>(),
                        "totalCount": n.opportunity_ids.len(),
                    })
                }
                _ => out["repliesCount"] = json!(store.replies_count(n.id)),
            }
        }
    }
    out
}

/// `GET /v2/notes`: root notes (replies come from `/v2/notes/{id}/replies`).
/// The `includes` of a notes request, checked.
fn note_includes<'a>(req: &'a Req) -> Result<Vec<&'a str>, ApiError> {
    let includes = req.all("includes");
    for inc in &includes {
        if ![
            "companiesPreview",
            "personsPreview",
            "opportunitiesPreview",
            "repliesCount",
        ]
        .contains(inc)
        {
            return Err(ApiError::validation(
                "includes",
                format!("Unknown includes value {inc:?}"),
            ));
        }
    }
    Ok(includes)
}

fn notes(store: &Store, req: &Req) -> Reply {
    let includes = note_includes(req)?;
    let filter = NoteFilter::parse(req.one("filter"))?;
    let roots: Vec<&Note> = store
        .ds
        .notes
        .iter()
        .filter(|n| n.parent_id().is_none() && filter.keeps(n))
        .collect();
    let mut body = page(req, NOTES_PAGED, roots.len(), |r| {
        roots[r].iter().map(|n| note(store, n, &includes)).collect()
    })?;
    if req.flag("totalCount") {
        body["pagination"]["totalCount"] = json!(roots.len());
    }
    Ok(body)
}
