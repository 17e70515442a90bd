//! Seeded changes to the data set, and the webhook events Affinity sends for them.
//!
//! The change-capture tests need a double whose data moves: [`apply`] makes a seeded series
//! of creates, updates, deletes and merges (persons, companies, opportunities, lists, list
//! entries, fields, field values, notes, reminders, entity files) and returns the events, in v1 webhook shape
//! (`{"type", "body", "sent_at"}`), that Affinity would post for them. [`delivery_order`]
//! adds the duplicates and out-of-order delivery real webhooks have.
//!
//! Affinity sends no event for what other records derive from a change: names of persons
//! and companies nested in other records' field values, notes' previews, relationship
//! intelligence computed from interactions. So the series only renames or deletes records
//! nothing else refers to (see `referenced_*`), and the data set after it is exactly what
//! the events describe; the change model's limits for derived values are documented in
//! `docs/changes.md`.

use crate::api::v1_time;
use crate::model::*;
use rand::seq::{IndexedMutRandom, IndexedRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use serde_json::{Value as Json, json};
use std::collections::HashSet;

/// What a series of changes should look like.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePlan {
    pub seed: u64,
    /// Changes to make (each sends one webhook event).
    pub changes: usize,
    /// `sent_at` of the first event (Unix seconds); each next one is a second later. By
    /// default the last one is sent now: receivers refuse events from ahead of their clock.
    #[serde(default)]
    pub sent_at: Option<i64>,
}

/// How events are delivered.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryPlan {
    pub seed: u64,
    /// Every n-th event is delivered twice (0: none).
    #[serde(default)]
    pub duplicate_every: usize,
    /// Events are shuffled within windows of this many (0 or 1: in order).
    #[serde(default)]
    pub shuffle_window: usize,
    /// Deliveries in flight at once (0 or 1: one after another), for bursts.
    #[serde(default)]
    pub parallel: usize,
}

/// The events in the order a flaky sender would deliver them.
pub fn delivery_order(events: &[Json], plan: &DeliveryPlan) -> Vec<Json> {
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    let mut out = vec![];
    for (i, e) in events.iter().enumerate() {
        out.push(e.clone());
        if plan.duplicate_every > 0 && (i + 1) % plan.duplicate_every == 0 {
            out.push(e.clone());
        }
    }
    if plan.shuffle_window > 1 {
        for chunk in out.chunks_mut(plan.shuffle_window) {
            use rand::seq::SliceRandom;
            chunk.shuffle(&mut rng);
        }
    }
    out
}

fn person_ids_in(v: &Value) -> Vec<Id> {
    match v {
        Value::Person(Some(p)) => vec![*p],
        Value::PersonMulti(Some(ps)) => ps.clone(),
        _ => vec![],
    }
}

fn company_ids_in(v: &Value) -> Vec<Id> {
    match v {
        Value::Company(Some(c)) => vec![*c],
        Value::CompanyMulti(Some(cs)) => cs.clone(),
        _ => vec![],
    }
}

/// Persons other records show or derive something from.
fn referenced_persons(ds: &Dataset) -> HashSet<Id> {
    let mut r: HashSet<Id> = HashSet::new();
    r.insert(ds.api_user_id);
    r.extend(
        ds.persons
            .iter()
            .filter(|p| p.kind == PersonKind::Internal)
            .map(|p| p.id),
    );
    for i in &ds.interactions {
        r.extend(&i.person_ids);
    }
    for n in &ds.notes {
        r.extend(&n.person_ids);
        r.extend(&n.mentioned_person_ids);
        r.insert(n.creator_id);
    }
    for v in &ds.field_values {
        r.extend(person_ids_in(&v.value));
    }
    for c in &ds.companies {
        r.extend(&c.person_ids);
    }
    for o in &ds.opportunities {
        r.extend(&o.person_ids);
    }
    for x in &ds.reminders {
        r.extend(x.person_id);
    }
    for f in &ds.entity_files {
        r.extend(f.person_id);
    }
    for s in &ds.relationship_strengths {
        r.insert(s.internal_id);
        r.insert(s.external_id);
    }
    for c in &ds.field_value_changes {
        r.insert(c.entity_id);
    }
    r
}

/// Companies other records show or derive something from.
fn referenced_companies(ds: &Dataset) -> HashSet<Id> {
    let mut r: HashSet<Id> = HashSet::new();
    for p in &ds.persons {
        r.extend(&p.company_ids);
        r.extend(&p.current_company_ids);
    }
    for o in &ds.opportunities {
        r.extend(&o.company_ids);
    }
    for n in &ds.notes {
        r.extend(&n.company_ids);
    }
    for v in &ds.field_values {
        r.extend(company_ids_in(&v.value));
    }
    for x in &ds.reminders {
        r.extend(x.company_id);
    }
    for f in &ds.entity_files {
        r.extend(f.company_id);
    }
    for c in &ds.field_value_changes {
        r.insert(c.entity_id);
    }
    r
}

fn referenced_opportunities(ds: &Dataset) -> HashSet<Id> {
    let mut r: HashSet<Id> = HashSet::new();
    for n in &ds.notes {
        r.extend(&n.opportunity_ids);
    }
    for x in &ds.reminders {
        r.extend(x.opportunity_id);
    }
    for f in &ds.entity_files {
        r.extend(f.opportunity_id);
    }
    for c in &ds.field_value_changes {
        r.insert(c.entity_id);
    }
    r
}

fn person_body(p: &Person, with_companies: bool) -> Json {
    let mut b = json!({
        "id": p.id,
        "type": if p.kind == PersonKind::Internal { 1 } else { 0 },
        "first_name": p.first_name,
        "last_name": p.last_name,
        "primary_email": p.primary_email,
        "emails": p.emails,
    });
    if with_companies {
        b["organization_ids"] = json!(p.company_ids);
    }
    b
}

fn company_body(c: &Company) -> Json {
    json!({ "id": c.id, "name": c.name, "domain": c.domain, "domains": c.domains,
            "crunchbase_uuid": null, "global": c.is_global })
}

fn field_value_body(v: &FieldValue) -> Json {
    let value = match &v.value {
        Value::Text(Some(s)) => json!(s),
        Value::Number(Some(x)) => json!(x),
        _ => Json::Null,
    };
    json!({
        "id": v.v1_ids.first().copied().unwrap_or(0),
        "field_id": v.field_id,
        "list_entry_id": v.list_entry_id,
        "entity_id": v.entity_id,
        "created_at": v1_time(v.created_at),
        "updated_at": v.updated_at.map(v1_time),
        "value": value,
    })
}

fn list_entry_body(ds: &Dataset, e: &ListEntry) -> Json {
    let kind = ds
        .lists
        .iter()
        .find(|l| l.id == e.list_id)
        .map(|l| l.entity);
    json!({
        "id": e.id,
        "list_id": e.list_id,
        "creator_id": e.creator_id,
        "entity_id": e.entity_id,
        "entity_type": kind.map(|k| k.v1_code()),
        "created_at": v1_time(e.created_at),
    })
}

fn note_body(n: &Note) -> Json {
    json!({
        "id": n.id,
        "creator_id": n.creator_id,
        "person_ids": n.person_ids,
        "organization_ids": n.company_ids,
        "opportunity_ids": n.opportunity_ids,
        "content": n.html,
        "created_at": v1_time(n.created_at),
    })
}

/// Removes an entity's own values, its list entries and their values.
fn drop_entity(ds: &mut Dataset, kind: EntityKind, id: Id) {
    let lists_of_kind: HashSet<Id> = ds
        .lists
        .iter()
        .filter(|l| l.entity == kind)
        .map(|l| l.id)
        .collect();
    let entries: HashSet<Id> = ds
        .list_entries
        .iter()
        .filter(|e| e.entity_id == id && lists_of_kind.contains(&e.list_id))
        .map(|e| e.id)
        .collect();
    let fields: std::collections::HashMap<Id, EntityKind> =
        ds.fields.iter().map(|f| (f.id, f.entity)).collect();
    ds.list_entries.retain(|e| !entries.contains(&e.id));
    ds.field_values.retain(|v| match v.list_entry_id {
        Some(e) => !entries.contains(&e),
        None => !(v.entity_id == id && fields.get(&v.field_id) == Some(&kind)),
    });
}

/// When a change happens and the id a record it creates gets.
#[derive(Clone, Copy)]
struct When {
    sent_at: i64,
    /// Every change has its own, above every id the data set holds (so ids of earlier
    /// calls are not reused, and the data set stays in id order).
    new_id: Id,
}

/// The first id above every id a change can create (records, values, options).
fn next_free_id(ds: &Dataset) -> Id {
    let ids = (ds.persons.iter().map(|p| p.id))
        .chain(ds.companies.iter().map(|c| c.id))
        .chain(ds.list_entries.iter().map(|e| e.id))
        .chain(
            ds.field_values
                .iter()
                .flat_map(|v| v.v1_ids.iter().copied()),
        )
        .chain(ds.fields.iter().map(|f| f.id))
        .chain(
            ds.fields
                .iter()
                .flat_map(|f| f.dropdown_options.iter().map(|o| o.id)),
        );
    ids.max().unwrap_or(0) + 1
}

fn event(kind: &str, body: Json, sent_at: i64) -> Json {
    json!({ "type": kind, "body": body, "sent_at": sent_at })
}

/// The default events of one call span at most this many seconds up to now.
const MAX_SPAN_SECS: i64 = 240;

/// Makes `plan.changes` seeded changes to `ds` and returns their webhook events, in the
/// order they happened.
pub fn apply(ds: &mut Dataset, plan: &ChangePlan) -> Vec<Json> {
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed ^ 0x5eed_c4a9);
    let n = plan.changes.max(1) as i64;
    // By default the events fill the last minutes up to now, several to a second when there
    // are many: none is ahead of a receiver's clock (which refuses those), and a burst is not
    // dated long before the sync a test made just before it.
    let (start, per_second) = match plan.sent_at {
        Some(t) => (t, 1),
        None => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            let per_second = (n + MAX_SPAN_SECS - 1) / MAX_SPAN_SECS;
            (now - (n + per_second - 1) / per_second + 1, per_second)
        }
    };
    let first_id = start.max(next_free_id(ds));
    let mut events = vec![];
    let mut attempts = 0;
    while events.len() < plan.changes && attempts < plan.changes * 20 {
        attempts += 1;
        let i = events.len() as i64;
        let when = When {
            sent_at: start + i / per_second,
            new_id: first_id + i,
        };
        let kind = rng.random_range(0..24);
        if let Some(e) = change(ds, &mut rng, kind, when) {
            events.push(e);
        }
    }
    events
}

/// One change of kind `kind`, if the data set has something it can apply to.
fn change(ds: &mut Dataset, rng: &mut ChaCha8Rng, kind: u32, when: When) -> Option<Json> {
    let When { sent_at, new_id } = when;
    let now_ms = sent_at * 1000;
    let free_person = |ds: &Dataset, rng: &mut ChaCha8Rng| -> Option<Id> {
        let used = referenced_persons(ds);
        let free: Vec<Id> = ds
            .persons
            .iter()
            .map(|p| p.id)
            .filter(|id| !used.contains(id))
            .collect();
        free.choose(rng).copied()
    };
    let free_company = |ds: &Dataset, rng: &mut ChaCha8Rng| -> Option<Id> {
        let used = referenced_companies(ds);
        let free: Vec<Id> = ds
            .companies
            .iter()
            .map(|c| c.id)
            .filter(|id| !used.contains(id))
            .collect();
        free.choose(rng).copied()
    };
    match kind {
        // person.created
        0 => {
            let id = new_id;
            let n = rng.random_range(100..999);
            let p = Person {
                id,
                kind: PersonKind::External,
                first_name: format!("New{n}"),
                last_name: Some(format!("Person{id}")),
                emails: vec![format!("new{id}@example.com")],
                primary_email: Some(format!("new{id}@example.com")),
                company_ids: vec![],
                current_company_ids: vec![],
                opportunity_ids: vec![],
            };
            let body = person_body(&p, true);
            ds.persons.push(p);
            Some(event("person.created", body, sent_at))
        }
        // person.updated
        1 => {
            let id = free_person(ds, rng)?;
            let p = ds.persons.iter_mut().find(|p| p.id == id)?;
            p.last_name = Some(format!("Renamed{}", rng.random_range(100..999)));
            Some(event("person.updated", person_body(p, true), sent_at))
        }
        // person.deleted
        2 => {
            let id = free_person(ds, rng)?;
            let ix = ds.persons.iter().position(|p| p.id == id)?;
            let p = ds.persons.remove(ix);
            drop_entity(ds, EntityKind::Person, id);
            Some(event("person.deleted", person_body(&p, false), sent_at))
        }
        // organization.created
        3 => {
            let id = new_id;
            let c = Company {
                id,
                name: format!("Newco {id}"),
                domain: Some(format!("newco{id}.example")),
                domains: vec![format!("newco{id}.example")],
                is_global: false,
                person_ids: vec![],
                opportunity_ids: vec![],
            };
            let body = company_body(&c);
            ds.companies.push(c);
            Some(event("organization.created", body, sent_at))
        }
        // organization.updated
        4 => {
            let id = free_company(ds, rng)?;
            let c = ds.companies.iter_mut().find(|c| c.id == id)?;
            c.name = format!("{} Renamed{}", c.name, rng.random_range(100..999));
            Some(event("organization.updated", company_body(c), sent_at))
        }
        // organization.deleted
        5 => {
            let id = free_company(ds, rng)?;
            let ix = ds.companies.iter().position(|c| c.id == id)?;
            let c = ds.companies.remove(ix);
            drop_entity(ds, EntityKind::Company, id);
            Some(event("organization.deleted", company_body(&c), sent_at))
        }
        // organization.merged: the removed company's domains move to the one that stays.
        6 => {
            let used = referenced_companies(ds);
            let free: Vec<Id> = ds
                .companies
                .iter()
                .map(|c| c.id)
                .filter(|id| !used.contains(id))
                .collect();
            if free.len() < 2 {
                return None;
            }
            let pair: Vec<Id> = free.choose_multiple(rng, 2).copied().collect();
            let (keep, gone) = (pair[0], pair[1]);
            let ix = ds.companies.iter().position(|c| c.id == gone)?;
            let removed = ds.companies.remove(ix);
            drop_entity(ds, EntityKind::Company, gone);
            let c = ds.companies.iter_mut().find(|c| c.id == keep)?;
            for d in &removed.domains {
                if !c.domains.contains(d) {
                    c.domains.push(d.clone());
                }
            }
            let body = json!({
                "changer": person_body_short(ds.api_user_id),
                "removed_company": company_body(&removed),
                "company": company_body(ds.companies.iter().find(|c| c.id == keep)?),
                "merged_at": v1_time(now_ms),
            });
            Some(event("organization.merged", body, sent_at))
        }
        // opportunity.updated
        7 => {
            let used = referenced_opportunities(ds);
            let free: Vec<Id> = ds
                .opportunities
                .iter()
                .map(|o| o.id)
                .filter(|id| !used.contains(id))
                .collect();
            let id = *free.choose(rng)?;
            let o = ds.opportunities.iter_mut().find(|o| o.id == id)?;
            o.name = format!("{} (stage {})", o.name, rng.random_range(2..9));
            let body = json!({ "id": o.id, "name": o.name, "person_ids": o.person_ids, "organization_ids": o.company_ids });
            Some(event("opportunity.updated", body, sent_at))
        }
        // opportunity.deleted
        8 => {
            let used = referenced_opportunities(ds);
            let free: Vec<Id> = ds
                .opportunities
                .iter()
                .map(|o| o.id)
                .filter(|id| !used.contains(id))
                .collect();
            let id = *free.choose(rng)?;
            let ix = ds.opportunities.iter().position(|o| o.id == id)?;
            let o = ds.opportunities.remove(ix);
            drop_entity(ds, EntityKind::Opportunity, id);
            for p in &mut ds.persons {
                p.opportunity_ids.retain(|x| *x != id);
            }
            for c in &mut ds.companies {
                c.opportunity_ids.retain(|x| *x != id);
            }
            Some(event(
                "opportunity.deleted",
                json!({ "id": o.id, "name": o.name }),
                sent_at,
            ))
        }
        // list_entry.created: a person or company is added to a list of its kind.
        9 => {
            let lists: Vec<(Id, EntityKind)> = ds
                .lists
                .iter()
                .filter(|l| l.entity != EntityKind::Opportunity)
                .map(|l| (l.id, l.entity))
                .collect();
            let (list_id, entity) = *lists.choose(rng)?;
            let on_list: HashSet<Id> = ds
                .list_entries
                .iter()
                .filter(|e| e.list_id == list_id)
                .map(|e| e.entity_id)
                .collect();
            let candidates: Vec<Id> = match entity {
                EntityKind::Person => ds.persons.iter().map(|p| p.id).collect(),
                _ => ds.companies.iter().map(|c| c.id).collect(),
            };
            let candidates: Vec<Id> = candidates
                .into_iter()
                .filter(|id| !on_list.contains(id))
                .collect();
            let entity_id = *candidates.choose(rng)?;
            let id = new_id;
            let e = ListEntry {
                id,
                list_id,
                entity_id,
                creator_id: Some(ds.api_user_id),
                created_at: now_ms,
            };
            let body = list_entry_body(ds, &e);
            ds.list_entries.push(e);
            Some(event("list_entry.created", body, sent_at))
        }
        // list_entry.deleted
        10 => {
            let e = ds.list_entries.choose(rng)?.clone();
            let body = list_entry_body(ds, &e);
            ds.list_entries.retain(|x| x.id != e.id);
            ds.field_values.retain(|v| v.list_entry_id != Some(e.id));
            Some(event("list_entry.deleted", body, sent_at))
        }
        // field_value.updated / .deleted on a text or number value (entity-level or list-specific)
        11 | 12 => {
            let editable: Vec<usize> = ds
                .field_values
                .iter()
                .enumerate()
                .filter(|(_, v)| {
                    let f = ds.fields.iter().find(|f| f.id == v.field_id);
                    f.is_some_and(|f| matches!(f.kind, FieldKind::Global | FieldKind::List))
                        && matches!(v.value, Value::Text(Some(_)) | Value::Number(Some(_)))
                })
                .map(|(i, _)| i)
                .collect();
            let ix = *editable.choose(rng)?;
            if kind == 11 {
                let v = &mut ds.field_values[ix];
                v.value = match &v.value {
                    Value::Text(_) => {
                        Value::Text(Some(format!("edited {}", rng.random_range(1000..9999))))
                    }
                    _ => Value::Number(Some(rng.random_range(1..10_000) as f64)),
                };
                v.updated_at = Some(now_ms);
                Some(event("field_value.updated", field_value_body(v), sent_at))
            } else {
                let v = ds.field_values.remove(ix);
                Some(event("field_value.deleted", field_value_body(&v), sent_at))
            }
        }
        // field_value.created: a global text field gets a value on an entity without one.
        13 => {
            let f = ds
                .fields
                .iter()
                .filter(|f| {
                    f.kind == FieldKind::Global
                        && f.value_type == ValueType::Text
                        && f.list_id.is_none()
                })
                .collect::<Vec<_>>()
                .choose(rng)
                .map(|f| (f.id, f.entity))?;
            let (field_id, entity) = f;
            let have: HashSet<Id> = ds
                .field_values
                .iter()
                .filter(|v| v.field_id == field_id)
                .map(|v| v.entity_id)
                .collect();
            let candidates: Vec<Id> = match entity {
                EntityKind::Person => ds.persons.iter().map(|p| p.id).collect(),
                EntityKind::Company => ds.companies.iter().map(|c| c.id).collect(),
                EntityKind::Opportunity => ds.opportunities.iter().map(|o| o.id).collect(),
            };
            let entity_id = *candidates
                .iter()
                .filter(|id| !have.contains(id))
                .collect::<Vec<_>>()
                .choose(rng)?;
            let v = FieldValue {
                field_id,
                entity_id: *entity_id,
                list_entry_id: None,
                value: Value::Text(Some(format!("new value {}", rng.random_range(1000..9999)))),
                v1_ids: vec![new_id],
                created_at: now_ms,
                updated_at: None,
            };
            let body = field_value_body(&v);
            ds.field_values.push(v);
            Some(event("field_value.created", body, sent_at))
        }
        // list.updated: a list is renamed.
        14 => {
            let l = ds.lists.choose_mut(rng)?;
            l.name = format!("{} ({})", l.name, rng.random_range(2..99));
            Some(event("list.updated", json!({ "id": l.id }), sent_at))
        }
        // note.updated / note.deleted: a note with no replies that is not a reply.
        15 | 16 => {
            let parents: HashSet<Id> = ds.notes.iter().filter_map(|n| n.parent_id()).collect();
            let free: Vec<usize> = ds
                .notes
                .iter()
                .enumerate()
                .filter(|(_, n)| matches!(n.kind, NoteKind::Entities) && !parents.contains(&n.id))
                .map(|(i, _)| i)
                .collect();
            let ix = *free.choose(rng)?;
            if kind == 15 {
                let n = &mut ds.notes[ix];
                n.html = Some(format!("<p>edited {}</p>", rng.random_range(1000..9999)));
                n.updated_at = Some(now_ms);
                Some(event("note.updated", note_body(n), sent_at))
            } else {
                let n = ds.notes.remove(ix);
                for i in &mut ds.interactions {
                    i.note_ids.retain(|x| *x != n.id);
                }
                Some(event("note.deleted", note_body(&n), sent_at))
            }
        }
        // reminder.updated / reminder.deleted
        17 | 18 => {
            let ix = (0..ds.reminders.len())
                .collect::<Vec<_>>()
                .choose(rng)
                .copied()?;
            if kind == 17 {
                let r = &mut ds.reminders[ix];
                r.content = format!("{} (moved {})", r.content, rng.random_range(1..99));
                Some(event(
                    "reminder.updated",
                    json!({ "id": r.id, "content": r.content }),
                    sent_at,
                ))
            } else {
                let r = ds.reminders.remove(ix);
                Some(event(
                    "reminder.deleted",
                    json!({ "id": r.id, "content": r.content }),
                    sent_at,
                ))
            }
        }
        // file.deleted
        19 => {
            let ix = (0..ds.entity_files.len())
                .collect::<Vec<_>>()
                .choose(rng)
                .copied()?;
            let f = ds.entity_files.remove(ix);
            Some(event(
                "file.deleted",
                json!({ "id": f.id, "name": f.name }),
                sent_at,
            ))
        }
        20..=23 => field_change(ds, rng, kind, when),
        _ => None,
    }
}

/// Custom fields (global or list-specific) shown by v1: those a change may rename or delete.
fn custom_fields(ds: &Dataset) -> Vec<usize> {
    ds.fields
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            f.in_v1()
                && matches!(f.kind, FieldKind::Global | FieldKind::List)
                && f.key == format!("field-{}", f.id)
        })
        .map(|(i, _)| i)
        .collect()
}

/// Field changes: renamed, a new ranked-dropdown option, deleted (with its values), created.
/// Option texts are never changed: field values show them, and Affinity sends no event for
/// the values a renamed option changes.
fn field_change(ds: &mut Dataset, rng: &mut ChaCha8Rng, kind: u32, when: When) -> Option<Json> {
    let When { sent_at, new_id } = when;
    let custom = custom_fields(ds);
    match kind {
        // field.updated: renamed
        20 => {
            let f = &mut ds.fields[*custom.choose(rng)?];
            f.name = format!("{} v{}", f.name, rng.random_range(2..99));
            Some(event(
                "field.updated",
                crate::v1::field_json(f, None, true),
                sent_at,
            ))
        }
        // field.updated: a ranked dropdown gets an option
        21 => {
            let ranked: Vec<usize> = custom
                .into_iter()
                .filter(|i| ds.fields[*i].value_type == ValueType::RankedDropdown)
                .collect();
            let f = &mut ds.fields[*ranked.choose(rng)?];
            f.dropdown_options.push(DropdownOption {
                id: new_id,
                text: format!("Option {}", rng.random_range(100..999)),
                rank: f.dropdown_options.len() as i64,
                color: COLORS.choose(rng).map(|c| c.to_string()),
            });
            Some(event(
                "field.updated",
                crate::v1::field_json(f, None, true),
                sent_at,
            ))
        }
        // field.deleted: its values, history and places in saved views go with it
        22 => {
            let f = ds.fields.remove(*custom.choose(rng)?);
            ds.field_values.retain(|v| v.field_id != f.id);
            ds.field_value_changes.retain(|c| c.field_id != f.id);
            for v in &mut ds.saved_views {
                v.field_keys.retain(|k| *k != f.key);
            }
            Some(event(
                "field.deleted",
                crate::v1::field_json(&f, None, true),
                sent_at,
            ))
        }
        // field.created: a global person or company text field, or a list-specific one
        23 => {
            let id = new_id;
            let (entity, list_id) = if rng.random_bool(0.5) {
                let l = ds.lists.choose(rng)?;
                (l.entity, Some(l.id))
            } else {
                (
                    *[EntityKind::Person, EntityKind::Company].choose(rng)?,
                    None,
                )
            };
            let f = Field {
                id,
                key: format!("field-{id}"),
                name: format!("New field {}", rng.random_range(100..999)),
                kind: if list_id.is_some() {
                    FieldKind::List
                } else {
                    FieldKind::Global
                },
                enrichment_source: None,
                value_type: ValueType::Text,
                entity,
                list_id,
                dropdown_options: vec![],
                track_changes: false,
            };
            let body = crate::v1::field_json(&f, None, true);
            ds.fields.push(f);
            Some(event("field.created", body, sent_at))
        }
        _ => None,
    }
}

fn person_body_short(id: Id) -> Json {
    json!({ "id": id })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{Sizes, generate};

    fn run(seed: u64, n: usize) -> (Dataset, Vec<Json>) {
        let mut ds = generate(7, &Sizes::small());
        let events = apply(
            &mut ds,
            &ChangePlan {
                seed,
                changes: n,
                sent_at: Some(1_800_000_000),
            },
        );
        (ds, events)
    }

    #[test]
    fn the_same_seed_makes_the_same_changes() {
        let (a, ea) = run(3, 80);
        let (b, eb) = run(3, 80);
        assert_eq!(ea, eb);
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            serde_json::to_value(&b).unwrap()
        );
        assert_ne!(run(4, 80).1, ea);
        // One event a change, a second apart.
        assert_eq!(ea.len(), 80);
        assert_eq!(ea[79]["sent_at"], 1_800_000_079);
    }

    #[test]
    fn by_default_events_end_now_and_new_ids_are_never_reused() {
        let mut ds = generate(7, &Sizes::small());
        let plan = |changes| ChangePlan {
            seed: 9,
            changes,
            sent_at: None,
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let burst = apply(&mut ds, &plan(1000));
        let times: Vec<i64> = burst
            .iter()
            .map(|e| e["sent_at"].as_i64().unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "in order");
        assert!(times[0] >= now - MAX_SPAN_SECS, "{} is too early", times[0]);
        assert!(
            *times.last().unwrap() <= now + 1,
            "none is ahead of the clock"
        );
        // A second call right after creates records with ids of their own.
        let before: HashSet<Id> = ds.persons.iter().map(|p| p.id).collect();
        apply(&mut ds, &plan(300));
        let ids: Vec<Id> = ds.persons.iter().map(|p| p.id).collect();
        assert_eq!(ids.len(), ids.iter().collect::<HashSet<_>>().len());
        assert!(ids.len() > before.len(), "the second call created persons");
    }

    #[test]
    fn events_describe_the_data_set_after_the_changes() {
        let (ds, events) = run(5, 200);
        let persons: HashSet<Id> = ds.persons.iter().map(|p| p.id).collect();
        let companies: HashSet<Id> = ds.companies.iter().map(|c| c.id).collect();
        let entries: HashSet<Id> = ds.list_entries.iter().map(|e| e.id).collect();
        let mut kinds = HashSet::new();
        for e in &events {
            let kind = e["type"].as_str().unwrap();
            kinds.insert(kind.to_string());
            let id = e["body"]["id"].as_i64().unwrap_or(0);
            match kind {
                "person.deleted" => assert!(!persons.contains(&id)),
                "organization.deleted" => assert!(!companies.contains(&id)),
                "organization.merged" => {
                    // The kept one may be changed again later; the removed one never comes back.
                    let gone = e["body"]["removed_company"]["id"].as_i64().unwrap();
                    assert!(!companies.contains(&gone));
                }
                "field.deleted" => {
                    assert!(ds.fields.iter().all(|f| f.id != id));
                    assert!(ds.field_values.iter().all(|v| v.field_id != id));
                }
                "list_entry.deleted" => {
                    assert!(!entries.contains(&id));
                    assert!(ds.field_values.iter().all(|v| v.list_entry_id != Some(id)));
                }
                _ => {}
            }
        }
        // Deleted entities leave no list entries or values behind.
        for e in &ds.list_entries {
            let list = ds.lists.iter().find(|l| l.id == e.list_id).unwrap();
            let exists = match list.entity {
                EntityKind::Person => persons.contains(&e.entity_id),
                EntityKind::Company => companies.contains(&e.entity_id),
                EntityKind::Opportunity => ds.opportunities.iter().any(|o| o.id == e.entity_id),
            };
            assert!(exists, "list entry {} points at a deleted entity", e.id);
        }
        assert!(kinds.len() >= 12, "a varied series: {kinds:?}");
        for k in ["field.created", "field.updated", "field.deleted"] {
            assert!(kinds.contains(k), "{k} in {kinds:?}");
        }
    }

    #[test]
    fn deliveries_repeat_and_reorder_on_request() {
        let (_, events) = run(6, 20);
        let plain = delivery_order(&events, &DeliveryPlan::default());
        assert_eq!(plain, events);
        let flaky = delivery_order(
            &events,
            &DeliveryPlan {
                seed: 1,
                duplicate_every: 4,
                shuffle_window: 5,
                parallel: 1,
            },
        );
        assert_eq!(flaky.len(), 25);
        assert_ne!(flaky[..20], events[..]);
        let mut a: Vec<String> = flaky.iter().map(|e| e.to_string()).collect();
        a.sort();
        a.dedup();
        assert_eq!(a.len(), 20, "the same events, some twice");
    }
}
