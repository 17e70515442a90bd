//! The data set plus the lookup tables the handlers need, built once at start.

use crate::model::*;
use std::collections::HashMap;

/// Read-only access to a [`Dataset`] by id, by entity and by list.
pub struct Store {
    pub ds: Dataset,
    persons: HashMap<Id, usize>,
    companies: HashMap<Id, usize>,
    opportunities: HashMap<Id, usize>,
    fields: HashMap<Id, usize>,
    lists: HashMap<Id, usize>,
    entries: HashMap<Id, usize>,
    notes: HashMap<Id, usize>,
    interactions: HashMap<(InteractionKind, Id), usize>,
    /// Entity-level (global, enriched, relationship-intelligence) values by (kind, entity id).
    entity_values: HashMap<(EntityKind, Id), Vec<usize>>,
    /// List-specific values by list entry id.
    entry_values: HashMap<Id, Vec<usize>>,
    /// Interactions each person, company and opportunity took part in.
    interactions_of: HashMap<(EntityKind, Id), Vec<usize>>,
    /// How many replies each note has (`repliesCount` on every note of a page: counting by
    /// scanning every note made a page of notes cost the whole data set per note).
    replies: HashMap<Id, usize>,
}

fn index_by<T>(items: &[T], key: impl Fn(&T) -> Id) -> HashMap<Id, usize> {
    items.iter().enumerate().map(|(i, x)| (key(x), i)).collect()
}

impl Store {
    pub fn new(ds: Dataset) -> Self {
        let fields = index_by(&ds.fields, |f| f.id);
        let mut entity_values: HashMap<(EntityKind, Id), Vec<usize>> = HashMap::new();
        let mut entry_values: HashMap<Id, Vec<usize>> = HashMap::new();
        for (i, v) in ds.field_values.iter().enumerate() {
            match v.list_entry_id {
                Some(entry) => entry_values.entry(entry).or_default().push(i),
                None => {
                    let kind = ds.fields[fields[&v.field_id]].entity;
                    entity_values
                        .entry((kind, v.entity_id))
                        .or_default()
                        .push(i);
                }
            }
        }
        let persons = index_by(&ds.persons, |p| p.id);
        let mut interactions_of: HashMap<(EntityKind, Id), Vec<usize>> = HashMap::new();
        for (i, it) in ds.interactions.iter().enumerate() {
            let mut companies: Vec<Id> = vec![];
            let mut opportunities: Vec<Id> = vec![];
            for pid in &it.person_ids {
                interactions_of
                    .entry((EntityKind::Person, *pid))
                    .or_default()
                    .push(i);
                if let Some(&ix) = persons.get(pid) {
                    companies.extend(&ds.persons[ix].company_ids);
                    opportunities.extend(&ds.persons[ix].opportunity_ids);
                }
            }
            companies.sort();
            companies.dedup();
            opportunities.sort();
            opportunities.dedup();
            for c in companies {
                interactions_of
                    .entry((EntityKind::Company, c))
                    .or_default()
                    .push(i);
            }
            for o in opportunities {
                interactions_of
                    .entry((EntityKind::Opportunity, o))
                    .or_default()
                    .push(i);
            }
        }
        let mut replies: HashMap<Id, usize> = HashMap::new();
        for parent in ds.notes.iter().filter_map(Note::parent_id) {
            *replies.entry(parent).or_default() += 1;
        }
        Store {
            persons,
            companies: index_by(&ds.companies, |c| c.id),
            opportunities: index_by(&ds.opportunities, |o| o.id),
            fields,
            lists: index_by(&ds.lists, |l| l.id),
            entries: index_by(&ds.list_entries, |e| e.id),
            notes: index_by(&ds.notes, |n| n.id),
            interactions: ds
                .interactions
                .iter()
                .enumerate()
                .map(|(i, x)| ((x.kind, x.id), i))
                .collect(),
            entity_values,
            entry_values,
            interactions_of,
            replies,
            ds,
        }
    }

    /// The number of replies to the note `id`.
    pub fn replies_count(&self, id: Id) -> usize {
        self.replies.get(&id).copied().unwrap_or(0)
    }

    pub fn person(&self, id: Id) -> Option<&Person> {
        self.persons.get(&id).map(|&i| &self.ds.persons[i])
    }
    pub fn company(&self, id: Id) -> Option<&Company> {
        self.companies.get(&id).map(|&i| &self.ds.companies[i])
    }
    pub fn opportunity(&self, id: Id) -> Option<&Opportunity> {
        self.opportunities
            .get(&id)
            .map(|&i| &self.ds.opportunities[i])
    }
    pub fn field(&self, id: Id) -> Option<&Field> {
        self.fields.get(&id).map(|&i| &self.ds.fields[i])
    }
    pub fn list(&self, id: Id) -> Option<&List> {
        self.lists.get(&id).map(|&i| &self.ds.lists[i])
    }
    pub fn entry(&self, id: Id) -> Option<&ListEntry> {
        self.entries.get(&id).map(|&i| &self.ds.list_entries[i])
    }
    pub fn note(&self, id: Id) -> Option<&Note> {
        self.notes.get(&id).map(|&i| &self.ds.notes[i])
    }
    pub fn interaction(&self, kind: InteractionKind, id: Id) -> Option<&Interaction> {
        self.interactions
            .get(&(kind, id))
            .map(|&i| &self.ds.interactions[i])
    }

    /// Entity-level values of one person, company or opportunity.
    pub fn entity_values(&self, kind: EntityKind, id: Id) -> impl Iterator<Item = &FieldValue> {
        self.entity_values
            .get(&(kind, id))
            .into_iter()
            .flatten()
            .map(|&i| &self.ds.field_values[i])
    }

    /// List-specific values of one list entry.
    pub fn entry_values(&self, entry_id: Id) -> impl Iterator<Item = &FieldValue> {
        self.entry_values
            .get(&entry_id)
            .into_iter()
            .flatten()
            .map(|&i| &self.ds.field_values[i])
    }

    pub fn interactions_of(&self, kind: EntityKind, id: Id) -> impl Iterator<Item = &Interaction> {
        self.interactions_of
            .get(&(kind, id))
            .into_iter()
            .flatten()
            .map(|&i| &self.ds.interactions[i])
    }

    /// The entity kind of an entity id, if it exists.
    pub fn entity_kind_of(&self, id: Id) -> Option<EntityKind> {
        if self.persons.contains_key(&id) {
            Some(EntityKind::Person)
        } else if self.companies.contains_key(&id) {
            Some(EntityKind::Company)
        } else if self.opportunities.contains_key(&id) {
            Some(EntityKind::Opportunity)
        } else {
            None
        }
    }

    /// Entries of one list, in id order.
    pub fn entries_of(&self, list_id: Id) -> Vec<&ListEntry> {
        self.ds
            .list_entries
            .iter()
            .filter(|e| e.list_id == list_id)
            .collect()
    }

    /// All list entries of one entity, across lists.
    pub fn entries_of_entity(&self, kind: EntityKind, id: Id) -> Vec<&ListEntry> {
        self.ds
            .list_entries
            .iter()
            .filter(|e| e.entity_id == id && self.list(e.list_id).map(|l| l.entity) == Some(kind))
            .collect()
    }
}
