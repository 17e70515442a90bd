//! The data set the double serves, in one neutral, typed form.
//!
//! Affinity exposes the same records through two API versions with different shapes
//! (v1: snake_case, integer enums, one row per multi-value; v2: camelCase, string enums,
//! typed field values). Keeping one model and rendering it twice (`v1.rs`, `v2.rs`) means the
//! two views can never disagree, and the model itself is the ground truth tests compare
//! against: it serializes as-is for `GET /__truth`.

use serde::Serialize;

/// Every Affinity id is a positive integer (v2 caps them at 2^53 - 1).
pub type Id = i64;

/// Milliseconds since the Unix epoch, UTC. Rendered as RFC 3339 by the views.
pub type Millis = i64;

/// Which of the three top-level entities a list, field or value belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Person,
    Company,
    Opportunity,
}

impl EntityKind {
    /// v1's integer code (lists `type`, fields `entity_type`).
    pub fn v1_code(self) -> i64 {
        match self {
            EntityKind::Person => 0,
            EntityKind::Company => 1,
            EntityKind::Opportunity => 8,
        }
    }

    /// v2's string (`ListWithType.type`, list entry `type`).
    pub fn v2_name(self) -> &'static str {
        match self {
            EntityKind::Person => "person",
            EntityKind::Company => "company",
            EntityKind::Opportunity => "opportunity",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Tenant {
    pub id: Id,
    pub name: String,
    pub subdomain: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonKind {
    External,
    Internal,
}

#[derive(Debug, Clone, Serialize)]
pub struct Person {
    pub id: Id,
    pub kind: PersonKind,
    pub first_name: String,
    pub last_name: Option<String>,
    pub emails: Vec<String>,
    pub primary_email: Option<String>,
    /// Companies the person is associated with (v1 `organization_ids`).
    pub company_ids: Vec<Id>,
    /// Subset of `company_ids` per Affinity Data's "Current Organization".
    pub current_company_ids: Vec<Id>,
    pub opportunity_ids: Vec<Id>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Company {
    pub id: Id,
    pub name: String,
    pub domain: Option<String>,
    pub domains: Vec<String>,
    pub is_global: bool,
    pub person_ids: Vec<Id>,
    pub opportunity_ids: Vec<Id>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Opportunity {
    pub id: Id,
    pub name: String,
    pub list_id: Id,
    pub person_ids: Vec<Id>,
    pub company_ids: Vec<Id>,
}

/// v2 `Field.type`: where a field comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FieldKind {
    Enriched,
    Global,
    List,
    RelationshipIntelligence,
}

impl FieldKind {
    pub fn v2_name(self) -> &'static str {
        match self {
            FieldKind::Enriched => "enriched",
            FieldKind::Global => "global",
            FieldKind::List => "list",
            FieldKind::RelationshipIntelligence => "relationship-intelligence",
        }
    }
}

/// v2 `FieldMetadata.valueType`, the full enum of the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ValueType {
    Person,
    PersonMulti,
    Company,
    CompanyMulti,
    FilterableText,
    FilterableTextMulti,
    Number,
    NumberMulti,
    Datetime,
    Location,
    LocationMulti,
    Text,
    RankedDropdown,
    Dropdown,
    DropdownMulti,
    FormulaNumber,
    Interaction,
}

impl ValueType {
    pub const ALL: [ValueType; 17] = [
        ValueType::Person,
        ValueType::PersonMulti,
        ValueType::Company,
        ValueType::CompanyMulti,
        ValueType::FilterableText,
        ValueType::FilterableTextMulti,
        ValueType::Number,
        ValueType::NumberMulti,
        ValueType::Datetime,
        ValueType::Location,
        ValueType::LocationMulti,
        ValueType::Text,
        ValueType::RankedDropdown,
        ValueType::Dropdown,
        ValueType::DropdownMulti,
        ValueType::FormulaNumber,
        ValueType::Interaction,
    ];

    pub fn v2_name(self) -> &'static str {
        match self {
            ValueType::Person => "person",
            ValueType::PersonMulti => "person-multi",
            ValueType::Company => "company",
            ValueType::CompanyMulti => "company-multi",
            ValueType::FilterableText => "filterable-text",
            ValueType::FilterableTextMulti => "filterable-text-multi",
            ValueType::Number => "number",
            ValueType::NumberMulti => "number-multi",
            ValueType::Datetime => "datetime",
            ValueType::Location => "location",
            ValueType::LocationMulti => "location-multi",
            ValueType::Text => "text",
            ValueType::RankedDropdown => "ranked-dropdown",
            ValueType::Dropdown => "dropdown",
            ValueType::DropdownMulti => "dropdown-multi",
            ValueType::FormulaNumber => "formula-number",
            ValueType::Interaction => "interaction",
        }
    }

    /// v1 `value_type` code, or `None` for types v1 does not expose
    /// (formula and relationship-intelligence fields exist only in v2).
    pub fn v1_code(self) -> Option<i64> {
        Some(match self {
            ValueType::Person | ValueType::PersonMulti => 0,
            ValueType::Company | ValueType::CompanyMulti => 1,
            ValueType::Dropdown | ValueType::DropdownMulti => 2,
            ValueType::Number | ValueType::NumberMulti => 3,
            ValueType::Datetime => 4,
            ValueType::Location | ValueType::LocationMulti => 5,
            ValueType::Text | ValueType::FilterableText | ValueType::FilterableTextMulti => 6,
            ValueType::RankedDropdown => 7,
            ValueType::FormulaNumber | ValueType::Interaction => return None,
        })
    }

    pub fn is_multi(self) -> bool {
        matches!(
            self,
            ValueType::PersonMulti
                | ValueType::CompanyMulti
                | ValueType::FilterableTextMulti
                | ValueType::NumberMulti
                | ValueType::LocationMulti
                | ValueType::DropdownMulti
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DropdownOption {
    pub id: Id,
    pub text: String,
    pub rank: i64,
    /// v2 colour name; v1 renders the index of this name in [`COLORS`].
    pub color: Option<String>,
}

/// Colour names for ranked dropdown options, in v1's integer order.
pub const COLORS: [&str; 8] = [
    "gray", "blue", "green", "yellow", "orange", "red", "purple", "pink",
];

#[derive(Debug, Clone, Serialize)]
pub struct Field {
    /// v1's integer id. For custom fields v2's id is `field-<id>`.
    pub id: Id,
    /// v2's string id (`field-12`, `affinity-data-industry`, `first-email`, ...).
    pub key: String,
    pub name: String,
    pub kind: FieldKind,
    pub enrichment_source: Option<String>,
    pub value_type: ValueType,
    pub entity: EntityKind,
    /// Set for list-specific fields.
    pub list_id: Option<Id>,
    pub dropdown_options: Vec<DropdownOption>,
    pub track_changes: bool,
}

impl Field {
    pub fn allows_multiple(&self) -> bool {
        self.value_type.is_multi()
    }

    /// Whether v1 shows this field (v1 has no formula or relationship-intelligence fields).
    pub fn in_v1(&self) -> bool {
        self.kind != FieldKind::RelationshipIntelligence && self.value_type.v1_code().is_some()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct List {
    pub id: Id,
    pub name: String,
    pub entity: EntityKind,
    pub is_public: bool,
    pub owner_id: Id,
    pub creator_id: Id,
}

#[derive(Debug, Clone, Serialize)]
pub struct ListEntry {
    pub id: Id,
    pub list_id: Id,
    pub entity_id: Id,
    pub creator_id: Option<Id>,
    pub created_at: Millis,
}

#[derive(Debug, Clone, Serialize)]
pub struct SavedView {
    pub id: Id,
    pub list_id: Id,
    pub name: String,
    /// `sheet`, `board` or `dashboard`.
    pub kind: String,
    pub created_at: Millis,
    /// v2 keys of the fields pulled into the view.
    pub field_keys: Vec<String>,
    /// The view's filter: it shows the entries whose id is `entry_modulo.1` modulo `entry_modulo.0`.
    pub entry_modulo: (i64, i64),
}

impl SavedView {
    pub fn shows(&self, entry: &ListEntry) -> bool {
        entry.id % self.entry_modulo.0 == self.entry_modulo.1
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Location {
    pub street_address: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    pub continent: Option<String>,
}

/// An interaction's type; ids are unique only within a type, as in Affinity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum InteractionKind {
    Meeting,
    Call,
    ChatMessage,
    Email,
}

impl InteractionKind {
    pub const ALL: [InteractionKind; 4] = [
        InteractionKind::Meeting,
        InteractionKind::Call,
        InteractionKind::ChatMessage,
        InteractionKind::Email,
    ];

    pub fn v1_code(self) -> i64 {
        match self {
            InteractionKind::Meeting => 0,
            InteractionKind::Call => 1,
            InteractionKind::ChatMessage => 2,
            InteractionKind::Email => 3,
        }
    }

    pub fn from_v1_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.v1_code() == code)
    }

    pub fn v2_name(self) -> &'static str {
        match self {
            InteractionKind::Meeting => "meeting",
            InteractionKind::Call => "call",
            InteractionKind::ChatMessage => "chat-message",
            InteractionKind::Email => "email",
        }
    }

    /// Meetings and calls are "events" (v1 serves both under `events`; the event dates of
    /// v1 interaction dates and v2 relationship intelligence cover both).
    pub fn is_event(self) -> bool {
        matches!(self, InteractionKind::Meeting | InteractionKind::Call)
    }

    /// The key v1 `GET /interactions` puts the page under.
    pub fn v1_collection(self) -> &'static str {
        match self {
            InteractionKind::Meeting | InteractionKind::Call => "events",
            InteractionKind::ChatMessage => "chat_messages",
            InteractionKind::Email => "emails",
        }
    }
}

/// A typed cell value. `None` is a field with no data (v2 `"data": null`; v1 has no row).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", content = "data", rename_all = "kebab-case")]
pub enum Value {
    Person(Option<Id>),
    PersonMulti(Option<Vec<Id>>),
    Company(Option<Id>),
    CompanyMulti(Option<Vec<Id>>),
    FilterableText(Option<String>),
    FilterableTextMulti(Option<Vec<String>>),
    Number(Option<f64>),
    NumberMulti(Option<Vec<f64>>),
    Datetime(Option<Millis>),
    Location(Option<Location>),
    LocationMulti(Option<Vec<Location>>),
    Text(Option<String>),
    /// A dropdown option id of the field.
    RankedDropdown(Option<Id>),
    Dropdown(Option<Id>),
    DropdownMulti(Option<Vec<Id>>),
    FormulaNumber(Option<f64>),
    Interaction(Option<(InteractionKind, Id)>),
}

#[derive(Debug, Clone, Serialize)]
pub struct FieldValue {
    pub field_id: Id,
    /// The person, company or opportunity the value belongs to.
    pub entity_id: Id,
    /// Set for list-specific fields.
    pub list_entry_id: Option<Id>,
    pub value: Value,
    /// v1 ids, one for each element of a multi-value (v1 serves one row each).
    pub v1_ids: Vec<Id>,
    pub created_at: Millis,
    pub updated_at: Option<Millis>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum NoteKind {
    Entities,
    Interaction { kind: InteractionKind, id: Id },
    AiNotetaker { meeting_id: Id },
    UserReply { parent_id: Id },
    AiNotetakerReply { parent_id: Id, meeting_id: Id },
}

#[derive(Debug, Clone, Serialize)]
pub struct Note {
    pub id: Id,
    pub kind: NoteKind,
    pub creator_id: Id,
    pub html: Option<String>,
    pub person_ids: Vec<Id>,
    pub company_ids: Vec<Id>,
    pub opportunity_ids: Vec<Id>,
    pub mentioned_person_ids: Vec<Id>,
    /// `private`, `public` or `custom`.
    pub sharing: String,
    pub created_at: Millis,
    pub updated_at: Option<Millis>,
}

impl Note {
    pub fn parent_id(&self) -> Option<Id> {
        match self.kind {
            NoteKind::UserReply { parent_id } | NoteKind::AiNotetakerReply { parent_id, .. } => {
                Some(parent_id)
            }
            _ => None,
        }
    }

    pub fn interaction(&self) -> Option<(InteractionKind, Id)> {
        match self.kind {
            NoteKind::Interaction { kind, id } => Some((kind, id)),
            NoteKind::AiNotetaker { meeting_id }
            | NoteKind::AiNotetakerReply { meeting_id, .. } => {
                Some((InteractionKind::Meeting, meeting_id))
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Interaction {
    pub kind: InteractionKind,
    pub id: Id,
    pub date: Millis,
    pub end_time: Option<Millis>,
    /// Meeting title or email subject.
    pub title: Option<String>,
    /// Everyone involved, internal and external, sender first for emails and chats.
    pub person_ids: Vec<Id>,
    /// Email only: recipients split into `to` and `cc` (indexes into `person_ids[1..]`).
    pub cc_count: usize,
    /// `true` when sent by an internal person (v1 direction 0).
    pub sent: bool,
    pub manual_creator_id: Option<Id>,
    pub all_day: bool,
    pub note_ids: Vec<Id>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Reminder {
    pub id: Id,
    /// 0 one-time, 1 recurring.
    pub kind: i64,
    pub reset_type: Option<i64>,
    pub reminder_days: Option<i64>,
    /// 0 completed, 1 active, 2 overdue.
    pub status: i64,
    pub content: String,
    pub created_at: Millis,
    pub due_date: Millis,
    pub completed_at: Option<Millis>,
    pub creator_id: Id,
    pub owner_id: Id,
    pub completer_id: Option<Id>,
    pub person_id: Option<Id>,
    pub company_id: Option<Id>,
    pub opportunity_id: Option<Id>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EntityFile {
    pub id: Id,
    pub name: String,
    pub size: i64,
    pub person_id: Option<Id>,
    pub company_id: Option<Id>,
    pub opportunity_id: Option<Id>,
    pub uploader_id: Id,
    pub created_at: Millis,
}

#[derive(Debug, Clone, Serialize)]
pub struct FieldValueChange {
    pub id: Id,
    pub field_id: Id,
    pub entity_id: Id,
    pub list_entry_id: Option<Id>,
    /// 0 create, 1 delete, 2 update.
    pub action_type: i64,
    pub changer_id: Id,
    pub changed_at: Millis,
    /// The new value (the old one for deletes), as a single element.
    pub value: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct RelationshipStrength {
    pub internal_id: Id,
    pub external_id: Id,
    pub strength: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct WebhookSubscription {
    pub id: Id,
    pub webhook_url: String,
    pub subscriptions: Vec<String>,
    pub disabled: bool,
    pub created_by: Id,
}

/// Everything the double serves. Vectors are sorted by id, which is also the page order.
#[derive(Debug, Clone, Serialize)]
pub struct Dataset {
    pub seed: u64,
    pub tenant: Tenant,
    /// The internal person whose key the double accepts (whoami, creator of API-made records).
    pub api_user_id: Id,
    pub persons: Vec<Person>,
    pub companies: Vec<Company>,
    pub opportunities: Vec<Opportunity>,
    pub fields: Vec<Field>,
    pub lists: Vec<List>,
    pub list_entries: Vec<ListEntry>,
    pub saved_views: Vec<SavedView>,
    pub field_values: Vec<FieldValue>,
    pub notes: Vec<Note>,
    pub interactions: Vec<Interaction>,
    pub reminders: Vec<Reminder>,
    pub entity_files: Vec<EntityFile>,
    pub field_value_changes: Vec<FieldValueChange>,
    pub relationship_strengths: Vec<RelationshipStrength>,
    pub webhook_subscriptions: Vec<WebhookSubscription>,
}
