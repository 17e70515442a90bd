//! v2 persons, companies and list entries as serde views over the data set.
//!
//! These are the pages a sync spends nearly all its requests on (a person with its enriched,
//! global and relationship-intelligence fields is about 4 KB of JSON). Built as
//! `serde_json::json!` trees, every key, string and object of every record was allocated,
//! inserted into a map and freed again, and the double used more CPU than the sync it
//! served. A view borrows from the data set and serializes straight to text
//! ([`serde_json::to_vec`]) or, where a handler needs a tree, to a [`Json`] value
//! ([`serde_json::to_value`]): one renderer for both. Keys are written in sorted order, as the
//! trees write them.

use crate::api::{num, v2_time};
use crate::model::*;
use crate::store::Store;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value as Json;

/// v2 truncates nested person/company arrays at 100 entries.
pub const NESTED_MAX: usize = 100;

/// The tree of a view, for handlers that build on it.
pub fn tree(view: impl Serialize) -> Json {
    serde_json::to_value(view).expect("views serialize to JSON")
}

/// A person, company or opportunity with the values of the `selected` fields (`fields`),
/// including the list-specific values of `entry` when it is rendered on a list entry.
#[derive(Clone, Copy)]
pub struct EntityView<'a> {
    pub store: &'a Store,
    pub entity: Entity<'a>,
    pub selected: &'a [&'a Field],
    pub entry: Option<Id>,
}

#[derive(Clone, Copy)]
pub enum Entity<'a> {
    Person(&'a Person),
    Company(&'a Company),
    Opportunity(&'a Opportunity),
}

impl Serialize for EntityView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (kind, id) = match self.entity {
            Entity::Person(p) => (EntityKind::Person, p.id),
            Entity::Company(c) => (EntityKind::Company, c.id),
            Entity::Opportunity(o) => (EntityKind::Opportunity, o.id),
        };
        let mut values: Vec<&FieldValue> = self.store.entity_values(kind, id).collect();
        if let Some(e) = self.entry {
            values.extend(self.store.entry_values(e));
        }
        let fields = Fields {
            store: self.store,
            selected: self.selected,
            values: &values,
        };
        match self.entity {
            Entity::Person(p) => {
                let mut m = s.serialize_map(Some(7))?;
                m.serialize_entry("emailAddresses", &p.emails)?;
                m.serialize_entry("fields", &fields)?;
                m.serialize_entry("firstName", &p.first_name)?;
                m.serialize_entry("id", &p.id)?;
                m.serialize_entry("lastName", &p.last_name)?;
                m.serialize_entry("primaryEmailAddress", &p.primary_email)?;
                m.serialize_entry("type", person_type(p))?;
                m.end()
            }
            Entity::Company(c) => {
                let mut m = s.serialize_map(Some(6))?;
                m.serialize_entry("domain", &c.domain)?;
                m.serialize_entry("domains", &c.domains)?;
                m.serialize_entry("fields", &fields)?;
                m.serialize_entry("id", &c.id)?;
                m.serialize_entry("isGlobal", &c.is_global)?;
                m.serialize_entry("name", &c.name)?;
                m.end()
            }
            Entity::Opportunity(o) => {
                let mut m = s.serialize_map(Some(4))?;
                m.serialize_entry("fields", &fields)?;
                m.serialize_entry("id", &o.id)?;
                m.serialize_entry("listId", &o.list_id)?;
                m.serialize_entry("name", &o.name)?;
                m.end()
            }
        }
    }
}

fn person_type(p: &Person) -> &'static str {
    match p.kind {
        PersonKind::Internal => "internal",
        PersonKind::External => "external",
    }
}

/// A list entry with its entity (`null` if the entity is gone).
#[derive(Clone, Copy)]
pub struct EntryView<'a> {
    pub store: &'a Store,
    pub list: &'a List,
    pub entry: &'a ListEntry,
    pub selected: &'a [&'a Field],
}

impl Serialize for EntryView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (store, e) = (self.store, self.entry);
        let entity = match self.list.entity {
            EntityKind::Person => store.person(e.entity_id).map(Entity::Person),
            EntityKind::Company => store.company(e.entity_id).map(Entity::Company),
            EntityKind::Opportunity => store.opportunity(e.entity_id).map(Entity::Opportunity),
        }
        .map(|entity| EntityView {
            store,
            entity,
            selected: self.selected,
            entry: Some(e.id),
        });
        let mut m = s.serialize_map(Some(6))?;
        m.serialize_entry("createdAt", &v2_time(e.created_at))?;
        m.serialize_entry("creatorId", &e.creator_id)?;
        m.serialize_entry("entity", &entity)?;
        m.serialize_entry("id", &e.id)?;
        m.serialize_entry("listId", &e.list_id)?;
        m.serialize_entry("type", self.list.entity.v2_name())?;
        m.end()
    }
}

/// The `fields` array: one object per selected field, in the order selected, with the
/// entity's value of it or `null` data.
struct Fields<'a> {
    store: &'a Store,
    selected: &'a [&'a Field],
    values: &'a [&'a FieldValue],
}

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.selected.len()))?;
        for f in self.selected {
            let v = self.values.iter().find(|v| v.field_id == f.id);
            seq.serialize_element(&FieldView {
                store: self.store,
                field: f,
                value: v.map(|v| &v.value),
            })?;
        }
        seq.end()
    }
}

/// One field of an entity with its value.
struct FieldView<'a> {
    store: &'a Store,
    field: &'a Field,
    value: Option<&'a Value>,
}

impl Serialize for FieldView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let f = self.field;
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("enrichmentSource", &f.enrichment_source)?;
        m.serialize_entry("id", &f.key)?;
        m.serialize_entry("name", &f.name)?;
        m.serialize_entry("type", f.kind.v2_name())?;
        m.serialize_entry(
            "value",
            &ValueView {
                data: DataView {
                    store: self.store,
                    field: f,
                    value: self.value,
                },
                value_type: f.value_type.v2_name(),
            },
        )?;
        m.end()
    }
}

struct ValueView<'a> {
    data: DataView<'a>,
    value_type: &'static str,
}

impl Serialize for ValueView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("data", &self.data)?;
        m.serialize_entry("type", self.value_type)?;
        m.end()
    }
}

/// The `data` of a field value; no value renders as `null` (v2 also uses `null`, never `[]`,
/// for multi-value fields with no data).
#[derive(Clone, Copy)]
pub struct DataView<'a> {
    pub store: &'a Store,
    pub field: &'a Field,
    pub value: Option<&'a Value>,
}

impl Serialize for DataView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (store, f) = (self.store, self.field);
        let Some(v) = self.value else {
            return s.serialize_unit();
        };
        match v {
            Value::Person(Some(p)) => PersonData { store, id: *p }.serialize(s),
            Value::PersonMulti(Some(ps)) => s.collect_seq(
                ps.iter()
                    .take(NESTED_MAX)
                    .map(|id| PersonData { store, id: *id }),
            ),
            Value::Company(Some(c)) => CompanyData { store, id: *c }.serialize(s),
            Value::CompanyMulti(Some(cs)) => s.collect_seq(
                cs.iter()
                    .take(NESTED_MAX)
                    .map(|id| CompanyData { store, id: *id }),
            ),
            Value::FilterableText(Some(t)) | Value::Text(Some(t)) => s.serialize_str(t),
            Value::FilterableTextMulti(Some(ts)) => ts.serialize(s),
            Value::Number(Some(x)) => num(*x).serialize(s),
            Value::NumberMulti(Some(xs)) => s.collect_seq(xs.iter().map(|x| num(*x))),
            Value::Datetime(Some(t)) => v2_time(*t).serialize(s),
            Value::Location(Some(l)) => LocationView(l).serialize(s),
            Value::LocationMulti(Some(ls)) => s.collect_seq(ls.iter().map(LocationView)),
            Value::RankedDropdown(Some(o)) => match option_of(f, *o) {
                Some(o) => {
                    let mut m = s.serialize_map(Some(4))?;
                    m.serialize_entry("color", &o.color)?;
                    m.serialize_entry("dropdownOptionId", &o.id)?;
                    m.serialize_entry("rank", &o.rank)?;
                    m.serialize_entry("text", &o.text)?;
                    m.end()
                }
                None => s.serialize_unit(),
            },
            Value::Dropdown(Some(o)) => match option_of(f, *o) {
                Some(o) => Dropdown(o).serialize(s),
                None => s.serialize_unit(),
            },
            Value::DropdownMulti(Some(os)) => {
                s.collect_seq(os.iter().filter_map(|o| option_of(f, *o)).map(Dropdown))
            }
            Value::FormulaNumber(Some(x)) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("calculatedValue", &num(*x))?;
                m.end()
            }
            // Rare (a few per person at most) and many shapes: the tree is fine here.
            Value::Interaction(Some((k, id))) => {
                crate::v2::interaction(store, *k, *id).serialize(s)
            }
            _ => s.serialize_unit(),
        }
    }
}

fn option_of(f: &Field, id: Id) -> Option<&DropdownOption> {
    f.dropdown_options.iter().find(|o| o.id == id)
}

/// A dropdown option as a (non-ranked) dropdown value shows it.
struct Dropdown<'a>(&'a DropdownOption);

impl Serialize for Dropdown<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("dropdownOptionId", &self.0.id)?;
        m.serialize_entry("text", &self.0.text)?;
        m.end()
    }
}

/// A person as field values and interactions show it; `null` if there is no such person.
#[derive(Clone, Copy)]
pub struct PersonData<'a> {
    pub store: &'a Store,
    pub id: Id,
}

impl Serialize for PersonData<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some(p) = self.store.person(self.id) else {
            return s.serialize_unit();
        };
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("firstName", &p.first_name)?;
        m.serialize_entry("id", &p.id)?;
        m.serialize_entry("lastName", &p.last_name)?;
        m.serialize_entry("primaryEmailAddress", &p.primary_email)?;
        m.serialize_entry("type", person_type(p))?;
        m.end()
    }
}

/// A company as field values show it; `null` if there is no such company.
#[derive(Clone, Copy)]
pub struct CompanyData<'a> {
    pub store: &'a Store,
    pub id: Id,
}

impl Serialize for CompanyData<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some(c) = self.store.company(self.id) else {
            return s.serialize_unit();
        };
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("domain", &c.domain)?;
        m.serialize_entry("id", &c.id)?;
        m.serialize_entry("name", &c.name)?;
        m.end()
    }
}

/// A location value.
#[derive(Clone, Copy)]
pub struct LocationView<'a>(pub &'a Location);

impl Serialize for LocationView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let l = self.0;
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("city", &l.city)?;
        m.serialize_entry("continent", &l.continent)?;
        m.serialize_entry("country", &l.country)?;
        m.serialize_entry("state", &l.state)?;
        m.serialize_entry("streetAddress", &l.street_address)?;
        m.end()
    }
}
