//! The v2 view: Bearer-authenticated `/v2/...` endpoints with `limit` + `cursor` paging,
//! absolute `pagination.nextUrl`, camelCase bodies and typed field values that appear only
//! when asked for with `fieldTypes` / `fieldIds`. Shapes follow the official OpenAPI spec and
//! are checked against its schemas by `tests/v2_schema.rs`.

use crate::api::*;
use crate::model::*;
use crate::paging;
use crate::store::Store;
use crate::v2_views::*;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Value as Json, json};

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
    let id = positive_id;
    match segments {
        ["auth", "whoami"] => Ok(whoami(store)),
        ["persons"] => entities::<AsTree>(store, req, EntityKind::Person),
        ["persons", "fields"] => entity_fields(store, req, EntityKind::Person),
        ["persons", pid] => entity(store, req, EntityKind::Person, id(pid, "personId")?),
        ["companies"] => entities::<AsTree>(store, req, EntityKind::Company),
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
            list_entries::<AsTree>(store, req, find_list(store, id(lid, "listId")?)?)
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
/// One page of records and its links, as v2 writes it.
pub struct Page<T> {
    data: Vec<T>,
    next_url: Option<String>,
    prev_url: Option<String>,
}

impl<T: Serialize> Serialize for Page<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut links = serde_json::Map::new();
        links.insert("nextUrl".into(), json!(self.next_url));
        links.insert("prevUrl".into(), json!(self.prev_url));
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("data", &self.data)?;
        m.serialize_entry("pagination", &links)?;
        m.end()
    }
}

/// The page `limit` and `cursor` ask for, out of `total` records; `render` makes the records
/// of a range.
fn paged<T>(
    req: &Req,
    limits: Limits,
    total: usize,
    render: impl FnOnce(std::ops::Range<usize>) -> Vec<T>,
) -> Result<Page<T>, ApiError> {
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
    let next_url = (end < total && limit > 0).then(|| url(paging::v2_cursor(req.path, end, true)));
    let prev_url = (offset > 0).then(|| {
        url(paging::v2_cursor(
            req.path,
            offset.saturating_sub(limit),
            false,
        ))
    });
    Ok(Page {
        data: render(range),
        next_url,
        prev_url,
    })
}

/// [`paged`], as a tree.
fn page(
    req: &Req,
    limits: Limits,
    total: usize,
    render: impl FnOnce(std::ops::Range<usize>) -> Vec<Json>,
) -> Reply {
    paged(req, limits, total, render).map(tree)
}

/// How a page of views is rendered: as a tree ([`route`]) or as text ([`route_text`]).
trait Render {
    type Out;
    fn render(page: &impl Serialize) -> Self::Out;
}

struct AsTree;
impl Render for AsTree {
    type Out = Json;
    fn render(page: &impl Serialize) -> Json {
        tree(page)
    }
}

struct AsText;
impl Render for AsText {
    type Out = Vec<u8>;
    fn render(page: &impl Serialize) -> Vec<u8> {
        serde_json::to_vec(page).expect("views serialize to JSON")
    }
}

/// The pages a sync makes nearly all its requests for (persons, companies, list entries) as
/// JSON text, rendered from views without building a tree; `None` for every other route
/// ([`route`] serves them, and these too, as trees).
pub fn route_text(
    store: &Store,
    req: &Req,
    segments: &[&str],
) -> Option<Result<Vec<u8>, ApiError>> {
    match segments {
        ["persons"] => Some(entities::<AsText>(store, req, EntityKind::Person)),
        ["companies"] => Some(entities::<AsText>(store, req, EntityKind::Company)),
        ["lists", lid, "list-entries"] => Some(
            positive_id(lid, "listId")
                .and_then(|lid| find_list(store, lid))
                .and_then(|l| list_entries::<AsText>(store, req, l)),
        ),
        _ => None,
    }
}

/// A path id, or a validation error naming it.
fn positive_id(s: &str, what: &str) -> Result<Id, ApiError> {
    s.parse::<Id>().ok().filter(|v| *v >= 1).ok_or_else(|| {
        ApiError::validation(
            what,
            format!("{what} must be a positive integer, got {s:?}"),
        )
    })
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

fn attendee(store: &Store, id: Id) -> Json {
    let email = store.person(id).and_then(|p| p.primary_email.clone());
    json!({ "emailAddress": email, "person": PersonData { store, id } })
}

/// The interaction object behind a relationship-intelligence value.
pub(crate) fn interaction(store: &Store, kind: InteractionKind, id: Id) -> Json {
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
            "manualCreator": PersonData { store, id: i.manual_creator_id.unwrap_or(people[0]) },
            "participants": people.iter().map(|p| PersonData { store, id: *p }).collect::<Vec<_>>(),
            "sentAt": v2_time(i.date),
            "type": "chat-message",
        }),
    }
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

fn opportunity(o: &Opportunity) -> Json {
    json!({ "id": o.id, "listId": o.list_id, "name": o.name })
}

fn entities<R: Render>(store: &Store, req: &Req, kind: EntityKind) -> Result<R::Out, ApiError> {
    let selected = selected_fields(store, req, kind, None)?;
    let mut wanted = vec![];
    for s in req.all("ids") {
        wanted.push(s.parse::<Id>().map_err(|_| {
            ApiError::validation("ids", format!("ids must be integers, got {s:?}"))
        })?);
    }
    let view = |entity| EntityView {
        store,
        entity,
        selected: &selected,
        entry: None,
    };
    let page = match kind {
        EntityKind::Person => {
            let rows: Vec<&Person> = store
                .ds
                .persons
                .iter()
                .filter(|p| wanted.is_empty() || wanted.contains(&p.id))
                .collect();
            paged(req, PAGED, rows.len(), |r| {
                rows[r].iter().map(|p| view(Entity::Person(p))).collect()
            })?
        }
        _ => {
            let rows: Vec<&Company> = store
                .ds
                .companies
                .iter()
                .filter(|c| wanted.is_empty() || wanted.contains(&c.id))
                .collect();
            paged(req, PAGED, rows.len(), |r| {
                rows[r].iter().map(|c| view(Entity::Company(c))).collect()
            })?
        }
    };
    Ok(R::render(&page))
}

fn entity(store: &Store, req: &Req, kind: EntityKind, id: Id) -> Reply {
    let selected = selected_fields(store, req, kind, None)?;
    let entity = match kind {
        EntityKind::Person => store
            .person(id)
            .map(Entity::Person)
            .ok_or_else(|| ApiError::not_found(format!("Person {id} not found")))?,
        _ => store
            .company(id)
            .map(Entity::Company)
            .ok_or_else(|| ApiError::not_found(format!("Company {id} not found")))?,
    };
    Ok(tree(EntityView {
        store,
        entity,
        selected: &selected,
        entry: None,
    }))
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

fn list_entry(store: &Store, list: &List, entry: &ListEntry, selected: &[&Field]) -> Json {
    tree(EntryView {
        store,
        list,
        entry,
        selected,
    })
}

fn list_entries<R: Render>(store: &Store, req: &Req, list: &List) -> Result<R::Out, ApiError> {
    let selected = selected_fields(store, req, list.entity, Some(list))?;
    let entries = store.entries_of(list.id);
    let page = paged(req, PAGED, entries.len(), |r| {
        entries[r]
            .iter()
            .map(|entry| EntryView {
                store,
                list,
                entry,
                selected: &selected,
            })
            .collect()
    })?;
    Ok(R::render(&page))
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
        .map(|(k, p)| json!({ "id": (n.id % 100_000) * 10 + k as i64 + 1, "person": PersonData { store, id: *p }, "type": "person" }))
        .collect();
    let mut out = json!({
        "content": { "html": n.html },
        "createdAt": v2_time(n.created_at),
        "creator": PersonData { store, id: n.creator_id },
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
            json!({ "owner": PersonData { store, id: n.creator_id }, "sharingType": n.sharing });
        for inc in includes {
            match *inc {
                "personsPreview" => {
                    out["personsPreview"] = json!({
                        "data": n.person_ids.iter().take(NESTED_MAX).map(|p| PersonData { store, id: *p }).collect::<Vec<_>>(),
                        "totalCount": n.person_ids.len(),
                    })
                }
                "companiesPreview" => {
                    out["companiesPreview"] = json!({
                        "data": n.company_ids.iter().take(NESTED_MAX).map(|c| CompanyData { store, id: *c }).collect::<Vec<_>>(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Sizes, generate};

    /// The text the server sends for the hot pages is the tree every other handler (and the
    /// schema test) sees, byte for byte: same values, keys in the same sorted order.
    #[test]
    fn hot_pages_render_as_text_exactly_as_their_trees() {
        let store = Store::new(generate(7, &Sizes::small()));
        let fields = [
            ("fieldTypes", "enriched"),
            ("fieldTypes", "global"),
            ("fieldTypes", "relationship-intelligence"),
        ];
        let mut requests: Vec<(String, Vec<(&str, &str)>)> = vec![
            ("/v2/persons".into(), fields.to_vec()),
            ("/v2/persons".into(), vec![("limit", "7")]),
            ("/v2/companies".into(), fields.to_vec()),
            ("/v2/persons".into(), vec![("limit", "0")]),
            ("/v2/companies".into(), vec![("cursor", "nonsense")]),
            ("/v2/lists/0/list-entries".into(), vec![]),
        ];
        for l in &store.ds.lists {
            let path = format!("/v2/lists/{}/list-entries", l.id);
            requests.push((path.clone(), vec![("fieldTypes", "list")]));
            requests.push((path, fields.to_vec()));
        }
        let mut pages = 0;
        for (path, query) in &requests {
            let mut query: Vec<(String, String)> = query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            // Every page of the request, following the cursor.
            loop {
                let req = Req {
                    path,
                    query: query.clone(),
                    base_url: "http://double",
                };
                let segments: Vec<&str> = path.trim_matches('/').split('/').skip(1).collect();
                let text = route_text(&store, &req, &segments).expect("a hot route");
                let tree = route(&store, &req, &segments);
                let (text, tree) = match (text, tree) {
                    (Ok(text), Ok(tree)) => (text, tree),
                    (Err(a), Err(b)) => {
                        assert_eq!(a.body(), b.body(), "{path}");
                        break;
                    }
                    (a, b) => panic!("{path}: text {:?} but tree {:?}", a.is_ok(), b.is_ok()),
                };
                assert_eq!(
                    String::from_utf8(text).unwrap(),
                    serde_json::to_string(&tree).unwrap(),
                    "{path} {query:?}"
                );
                pages += 1;
                let Some(next) = tree["pagination"]["nextUrl"].as_str() else {
                    break;
                };
                let cursor = next.split("cursor=").nth(1).unwrap().to_string();
                query.retain(|(k, _)| k != "cursor");
                query.push(("cursor".into(), cursor));
            }
        }
        assert!(
            pages > requests.len(),
            "cursors were followed: {pages} pages"
        );
        assert!(
            route_text(
                &store,
                &Req {
                    path: "/v2/notes",
                    query: vec![],
                    base_url: ""
                },
                &["notes"]
            )
            .is_none()
        );
    }
}
