//! Deterministic data generation: the same seed and sizes always give the same data set.
//!
//! The variety is deliberate: sparse ids with gaps, unicode names, missing last names and
//! emails, every v2 field value type, empty (null) values, associations over v2's 100-item
//! truncation, lists of every entity type plus an empty one, interaction ids that repeat
//! across interaction types, replies on notes, and a fixed "now" so relative dates never drift.

use crate::model::*;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// How many records of each kind to generate.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Sizes {
    /// External persons (internal users come on top, see `users`).
    pub persons: usize,
    /// Internal persons: the team's Affinity users.
    pub users: usize,
    pub companies: usize,
    pub opportunities: usize,
    /// Lists, cycling company, person, opportunity; the fourth list (when present) is empty.
    pub lists: usize,
    /// Entries on each person and company list (capped by the population).
    pub entries_per_list: usize,
    /// Root notes; about one in ten gets replies on top.
    pub notes: usize,
    pub interactions: usize,
    pub reminders: usize,
    pub entity_files: usize,
}

impl Default for Sizes {
    fn default() -> Self {
        Sizes {
            persons: 1200,
            users: 8,
            companies: 600,
            opportunities: 150,
            lists: 6,
            entries_per_list: 150,
            notes: 400,
            interactions: 1500,
            reminders: 120,
            entity_files: 200,
        }
    }
}

impl Sizes {
    /// A small data set for fast tests: still every shape, still several pages per stream.
    pub fn small() -> Self {
        Sizes {
            persons: 230,
            users: 4,
            companies: 130,
            opportunities: 40,
            lists: 4,
            entries_per_list: 120,
            notes: 60,
            interactions: 200,
            reminders: 30,
            entity_files: 40,
        }
    }

    /// A data set with nothing but the API user: every collection endpoint is empty.
    pub fn empty() -> Self {
        Sizes {
            persons: 0,
            users: 1,
            companies: 0,
            opportunities: 0,
            lists: 0,
            entries_per_list: 0,
            notes: 0,
            interactions: 0,
            reminders: 0,
            entity_files: 0,
        }
    }
}

/// The double's notion of "now" (2026-06-01T00:00:00Z): dates in the data set are relative to it.
pub const NOW: Millis = 1_780_272_000_000;
const DAY: Millis = 86_400_000;
const YEAR: Millis = 365 * DAY;

const FIRST_NAMES: &[&str] = &[
    "Ada",
    "José",
    "Zoë",
    "Søren",
    "Ólafur",
    "Анна",
    "محمد",
    "王伟",
    "Chloé",
    "Łukasz",
    "Nnamdi",
    "Priya",
    "Hiroshi",
    "Fatima",
    "Björn",
    "Renée",
    "Mateo",
    "Aoife",
    "Siobhán",
    "Dvořák",
    "Kwame",
    "Ngozi",
    "Élodie",
    "François",
    "Yuki",
    "Emma",
    "Liam",
    "Olivia",
    "Noah",
    "Sofía",
];
const LAST_NAMES: &[&str] = &[
    "Lovelace",
    "García",
    "Müller",
    "O'Brien",
    "Nguyễn",
    "Smith",
    "Kowalski",
    "Иванова",
    "Tanaka",
    "Okafor",
    "Johansson",
    "D'Angelo",
    "van der Berg",
    "Ødegaard",
    "Al-Sayed",
    "Kim",
    "Patel",
    "Silva",
    "Rossi",
    "Dubois",
    "Jones",
    "Brown",
    "Lee",
    "Walker",
    "Hall",
];
const SYLLABLES: &[&str] = &[
    "ac", "me", "um", "bre", "lla", "ion", "ix", "ora", "tech", "nova", "lab", "vent", "ur", "qua",
    "zen", "flux", "io", "ar", "pix", "dyn",
];
const INDUSTRIES: &[&str] = &[
    "Fintech",
    "Healthcare",
    "SaaS",
    "Climate",
    "Biotech",
    "Aerospace",
    "Consumer Goods",
    "Logistics",
    "Developer Tools",
    "Robotics",
];
const CITIES: &[(&str, &str, &str, &str)] = &[
    (
        "San Francisco",
        "California",
        "United States",
        "North America",
    ),
    ("New York", "New York", "United States", "North America"),
    ("London", "England", "United Kingdom", "Europe"),
    ("Berlin", "Berlin", "Germany", "Europe"),
    ("São Paulo", "São Paulo", "Brazil", "South America"),
    ("Lagos", "Lagos", "Nigeria", "Africa"),
    ("Bengaluru", "Karnataka", "India", "Asia"),
    ("Zürich", "Zürich", "Switzerland", "Europe"),
];
const STAGES: &[&str] = &["Seed", "Series A", "Series B", "Growth", "Public Markets"];

/// Hands out increasing ids with random gaps, so nothing can assume ids are contiguous.
struct IdSeq {
    next: Id,
}

impl IdSeq {
    fn new(start: Id) -> Self {
        IdSeq { next: start }
    }
    fn take(&mut self, rng: &mut ChaCha8Rng) -> Id {
        let id = self.next;
        self.next += rng.random_range(1..=7);
        id
    }
}

/// Generates the data set for `seed` and `sizes`.
pub fn generate(seed: u64, sizes: &Sizes) -> Dataset {
    Generator::new(seed, sizes.clone()).run()
}

struct Generator {
    rng: ChaCha8Rng,
    sizes: Sizes,
    ds: Dataset,
    field_ids: IdSeq,
    option_ids: IdSeq,
    value_ids: IdSeq,
    /// Ids of `ds.persons` and `ds.companies`, for picking values (see `random_value`).
    person_ids: Vec<Id>,
    company_ids: Vec<Id>,
}

impl Generator {
    fn new(seed: u64, sizes: Sizes) -> Self {
        let ds = Dataset {
            seed,
            tenant: Tenant {
                id: 7_001,
                name: "Acme Ventures".into(),
                subdomain: "acme-ventures".into(),
            },
            api_user_id: 0,
            persons: vec![],
            companies: vec![],
            opportunities: vec![],
            fields: vec![],
            lists: vec![],
            list_entries: vec![],
            saved_views: vec![],
            field_values: vec![],
            notes: vec![],
            interactions: vec![],
            reminders: vec![],
            entity_files: vec![],
            field_value_changes: vec![],
            relationship_strengths: vec![],
            webhook_subscriptions: vec![],
        };
        Generator {
            rng: ChaCha8Rng::seed_from_u64(seed),
            sizes,
            ds,
            field_ids: IdSeq::new(1_001),
            option_ids: IdSeq::new(5_001),
            value_ids: IdSeq::new(900_001),
            person_ids: vec![],
            company_ids: vec![],
        }
    }

    fn run(mut self) -> Dataset {
        self.persons();
        self.companies();
        self.lists_and_opportunities();
        self.fields();
        self.interactions();
        self.entity_field_values();
        self.list_field_values();
        self.saved_views();
        self.notes();
        self.reminders();
        self.entity_files();
        self.field_value_changes();
        self.relationship_strengths();
        self.webhooks();
        self.ds
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        items.choose(&mut self.rng).expect("non-empty pool")
    }

    /// A time in the `years` years before NOW.
    fn past(&mut self, years: i64) -> Millis {
        NOW - self.rng.random_range(DAY..years * YEAR)
    }

    fn user_ids(&self) -> Vec<Id> {
        self.ds
            .persons
            .iter()
            .filter(|p| p.kind == PersonKind::Internal)
            .map(|p| p.id)
            .collect()
    }

    fn external_ids(&self) -> Vec<Id> {
        self.ds
            .persons
            .iter()
            .filter(|p| p.kind == PersonKind::External)
            .map(|p| p.id)
            .collect()
    }

    fn persons(&mut self) {
        let mut ids = IdSeq::new(10_001);
        let users = self.sizes.users.max(1);
        for i in 0..users + self.sizes.persons {
            let id = ids.take(&mut self.rng);
            let internal = i < users;
            let first = self.pick(FIRST_NAMES).to_string();
            let last = if !internal && self.chance(0.1) {
                None
            } else {
                Some(self.pick(LAST_NAMES).to_string())
            };
            let slug: String = first
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_lowercase();
            let slug = if slug.is_empty() {
                "person".into()
            } else {
                slug
            };
            let emails: Vec<String> = if internal {
                vec![format!("{slug}.{id}@acme-ventures.com")]
            } else {
                let n = self.rng.random_range(0..=3);
                (0..n)
                    .map(|k| format!("{slug}{id}.{k}@example{}.org", k + 1))
                    .collect()
            };
            self.ds.persons.push(Person {
                id,
                kind: if internal {
                    PersonKind::Internal
                } else {
                    PersonKind::External
                },
                first_name: first,
                last_name: last,
                primary_email: emails.first().cloned(),
                emails,
                company_ids: vec![],
                current_company_ids: vec![],
                opportunity_ids: vec![],
            });
        }
        self.ds.api_user_id = self.ds.persons[0].id;
    }

    fn companies(&mut self) {
        let mut ids = IdSeq::new(200_001);
        for _ in 0..self.sizes.companies {
            let id = ids.take(&mut self.rng);
            let parts = self.rng.random_range(2..=3);
            let mut name = String::new();
            for _ in 0..parts {
                let syllable = self.pick::<&str>(SYLLABLES);
                name.push_str(syllable);
            }
            let domain = format!("{name}{id}.com");
            let mut chars = name.chars();
            let pretty = match chars.next() {
                Some(c) => c.to_uppercase().collect::<String>() + chars.as_str(),
                None => name.clone(),
            };
            let (domain, domains) = if self.chance(0.05) {
                (None, vec![])
            } else if self.chance(0.2) {
                (
                    Some(domain.clone()),
                    vec![domain.clone(), format!("{name}{id}.io")],
                )
            } else {
                (Some(domain.clone()), vec![domain])
            };
            let is_global = self.chance(0.5);
            let name = if self.chance(0.05) {
                format!("{pretty} — Société Générale ✓")
            } else {
                pretty
            };
            self.ds.companies.push(Company {
                id,
                name,
                domain,
                domains,
                is_global,
                person_ids: vec![],
                opportunity_ids: vec![],
            });
        }
        // Associations: most external persons work somewhere; the first company is huge
        // (more than v2's 100-item truncation of nested associations).
        if self.ds.companies.is_empty() {
            return;
        }
        let externals = self.external_ids();
        let company_ids: Vec<Id> = self.ds.companies.iter().map(|c| c.id).collect();
        let mut links: BTreeSet<(Id, Id)> = BTreeSet::new();
        for (k, &pid) in externals.iter().enumerate() {
            if k < 150 {
                links.insert((pid, company_ids[0]));
            }
            let n = self.rng.random_range(0..=2);
            for _ in 0..n {
                let cid = *self.pick(&company_ids);
                links.insert((pid, cid));
            }
        }
        for (pid, cid) in links {
            self.person_mut(pid).company_ids.push(cid);
            self.company_mut(cid).person_ids.push(pid);
        }
        for i in 0..self.ds.persons.len() {
            let current: Vec<Id> = self.ds.persons[i]
                .company_ids
                .iter()
                .take(1)
                .copied()
                .collect();
            self.ds.persons[i].current_company_ids = current;
        }
    }

    fn person_mut(&mut self, id: Id) -> &mut Person {
        let i = self
            .ds
            .persons
            .binary_search_by_key(&id, |p| p.id)
            .expect("person id");
        &mut self.ds.persons[i]
    }

    fn company_mut(&mut self, id: Id) -> &mut Company {
        let i = self
            .ds
            .companies
            .binary_search_by_key(&id, |c| c.id)
            .expect("company id");
        &mut self.ds.companies[i]
    }

    fn lists_and_opportunities(&mut self) {
        let mut list_ids = IdSeq::new(3_001);
        let users = self.user_ids();
        let kinds = [
            EntityKind::Company,
            EntityKind::Person,
            EntityKind::Opportunity,
        ];
        let names = [
            "Deal Flow",
            "Founders",
            "Pipeline",
            "Portfolio",
            "LPs",
            "Fund III Deals",
            "Advisors",
        ];
        for i in 0..self.sizes.lists {
            let id = list_ids.take(&mut self.rng);
            let owner = *self.pick(&users);
            let creator_id = *self.pick(&users);
            self.ds.lists.push(List {
                id,
                name: format!("{} {}", names[i % names.len()], i + 1),
                entity: kinds[i % 3],
                is_public: i % 2 == 0,
                owner_id: owner,
                creator_id,
            });
        }
        let opp_lists: Vec<Id> = self
            .ds
            .lists
            .iter()
            .filter(|l| l.entity == EntityKind::Opportunity)
            .map(|l| l.id)
            .collect();
        let mut entry_ids = IdSeq::new(400_001);
        // Opportunities: each lives on exactly one opportunity list, with one entry there.
        if !opp_lists.is_empty() {
            let mut opp_ids = IdSeq::new(60_001);
            let externals = self.external_ids();
            let company_ids: Vec<Id> = self.ds.companies.iter().map(|c| c.id).collect();
            for k in 0..self.sizes.opportunities {
                let id = opp_ids.take(&mut self.rng);
                let list_id = opp_lists[k % opp_lists.len()];
                let np = if k == 0 {
                    120
                } else {
                    self.rng.random_range(0..=3)
                };
                let mut person_ids: BTreeSet<Id> = BTreeSet::new();
                if !externals.is_empty() {
                    for _ in 0..np {
                        person_ids.insert(*self.pick(&externals));
                    }
                }
                let mut company_ids_o: BTreeSet<Id> = BTreeSet::new();
                if !company_ids.is_empty() {
                    for _ in 0..self.rng.random_range(0..=2) {
                        company_ids_o.insert(*self.pick(&company_ids));
                    }
                }
                let name = format!("{} — {}", STAGES[k % STAGES.len()], id);
                self.ds.opportunities.push(Opportunity {
                    id,
                    name,
                    list_id,
                    person_ids: person_ids.iter().copied().collect(),
                    company_ids: company_ids_o.iter().copied().collect(),
                });
                for pid in person_ids {
                    self.person_mut(pid).opportunity_ids.push(id);
                }
                for cid in company_ids_o {
                    self.company_mut(cid).opportunity_ids.push(id);
                }
            }
        }
        // Entries: per list, in list order, ids increasing across the data set.
        let lists = self.ds.lists.clone();
        for (i, list) in lists.iter().enumerate() {
            let members: Vec<Id> = match list.entity {
                EntityKind::Opportunity => self
                    .ds
                    .opportunities
                    .iter()
                    .filter(|o| o.list_id == list.id)
                    .map(|o| o.id)
                    .collect(),
                _ if i == 3 => vec![], // the deliberately empty list
                EntityKind::Person => {
                    let pool: Vec<Id> = self.ds.persons.iter().map(|p| p.id).collect();
                    self.sample(&pool, self.sizes.entries_per_list)
                }
                EntityKind::Company => {
                    let pool: Vec<Id> = self.ds.companies.iter().map(|c| c.id).collect();
                    self.sample(&pool, self.sizes.entries_per_list)
                }
            };
            for entity_id in members {
                let id = entry_ids.take(&mut self.rng);
                let creator_id = if self.chance(0.1) {
                    None
                } else {
                    Some(*self.pick(&users))
                };
                let created_at = self.past(5);
                self.ds.list_entries.push(ListEntry {
                    id,
                    list_id: list.id,
                    entity_id,
                    creator_id,
                    created_at,
                });
            }
        }
    }

    /// `n` distinct items of `pool`, in pool order.
    fn sample(&mut self, pool: &[Id], n: usize) -> Vec<Id> {
        let mut picked: Vec<Id> = pool
            .choose_multiple(&mut self.rng, n.min(pool.len()))
            .copied()
            .collect();
        picked.sort();
        picked
    }

    fn options(&mut self, texts: &[&str], ranked: bool) -> Vec<DropdownOption> {
        texts
            .iter()
            .enumerate()
            .map(|(rank, text)| DropdownOption {
                id: self.option_ids.take(&mut self.rng),
                text: text.to_string(),
                rank: rank as i64,
                color: if ranked {
                    Some(COLORS[rank % COLORS.len()].to_string())
                } else {
                    None
                },
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn field(
        &mut self,
        key: Option<&str>,
        name: &str,
        kind: FieldKind,
        source: Option<&str>,
        value_type: ValueType,
        entity: EntityKind,
        list_id: Option<Id>,
        options: Vec<DropdownOption>,
    ) {
        let id = self.field_ids.take(&mut self.rng);
        let track_changes = kind != FieldKind::Enriched
            && kind != FieldKind::RelationshipIntelligence
            && matches!(
                value_type,
                ValueType::Person
                    | ValueType::PersonMulti
                    | ValueType::Company
                    | ValueType::CompanyMulti
                    | ValueType::Number
                    | ValueType::Datetime
                    | ValueType::Location
                    | ValueType::RankedDropdown
            );
        self.ds.fields.push(Field {
            id,
            key: key
                .map(str::to_string)
                .unwrap_or_else(|| format!("field-{id}")),
            name: name.to_string(),
            kind,
            enrichment_source: source.map(str::to_string),
            value_type,
            entity,
            list_id,
            dropdown_options: options,
            track_changes,
        });
    }

    fn fields(&mut self) {
        use EntityKind::{Company as C, Person as P};
        use FieldKind::*;
        use ValueType as V;
        let ad = Some("affinity-data");
        // Enriched fields (Affinity Data, one Dealroom).
        let enriched: [(&str, &str, V, EntityKind, Option<&str>); 12] = [
            (
                "affinity-data-job-titles",
                "Job Titles",
                V::FilterableTextMulti,
                P,
                ad,
            ),
            ("affinity-data-location", "Location", V::Location, P, ad),
            (
                "affinity-data-industry",
                "Industry",
                V::FilterableTextMulti,
                P,
                ad,
            ),
            ("affinity-data-linkedin-url", "LinkedIn URL", V::Text, P, ad),
            ("affinity-data-description", "Description", V::Text, C, ad),
            (
                "affinity-data-industry",
                "Industry",
                V::FilterableTextMulti,
                C,
                ad,
            ),
            (
                "affinity-data-investment-stage",
                "Investment Stage",
                V::FilterableText,
                C,
                ad,
            ),
            (
                "affinity-data-last-funding-amount",
                "Last Funding Amount (USD)",
                V::Number,
                C,
                ad,
            ),
            (
                "affinity-data-last-funding-date",
                "Last Funding Date",
                V::Datetime,
                C,
                ad,
            ),
            ("affinity-data-location", "Location", V::Location, C, ad),
            (
                "affinity-data-number-of-employees",
                "Number of Employees",
                V::Number,
                C,
                ad,
            ),
            (
                "dealroom-total-funding",
                "Total Funding (Dealroom)",
                V::Number,
                C,
                Some("dealroom"),
            ),
        ];
        for (key, name, vt, entity, source) in enriched {
            self.field(Some(key), name, Enriched, source, vt, entity, None, vec![]);
        }
        // Global custom fields.
        let use_cases = self.options(&["Hiring", "Co-invest", "Advice", "Sales"], false);
        self.field(
            None,
            "Referrers",
            Global,
            None,
            V::PersonMulti,
            P,
            None,
            vec![],
        );
        self.field(None, "Address", Global, None, V::Location, P, None, vec![]);
        self.field(
            None,
            "Use Case",
            Global,
            None,
            V::DropdownMulti,
            P,
            None,
            use_cases,
        );
        self.field(None, "Birthday", Global, None, V::Datetime, P, None, vec![]);
        self.field(None, "Bio", Global, None, V::Text, P, None, vec![]);
        self.field(None, "Rating", Global, None, V::Number, P, None, vec![]);
        self.field(None, "Employer", Global, None, V::Company, P, None, vec![]);
        let sectors = self.options(&INDUSTRIES[..6], false);
        self.field(None, "Sector", Global, None, V::Dropdown, C, None, sectors);
        self.field(
            None,
            "Co-investors",
            Global,
            None,
            V::CompanyMulti,
            C,
            None,
            vec![],
        );
        self.field(None, "Revenue", Global, None, V::Number, C, None, vec![]);
        self.field(
            None,
            "Revenue History",
            Global,
            None,
            V::NumberMulti,
            C,
            None,
            vec![],
        );
        self.field(
            None,
            "Offices",
            Global,
            None,
            V::LocationMulti,
            C,
            None,
            vec![],
        );
        self.field(
            None,
            "Key Contact",
            Global,
            None,
            V::Person,
            C,
            None,
            vec![],
        );
        self.field(
            None,
            "Key People",
            Global,
            None,
            V::PersonMulti,
            C,
            None,
            vec![],
        );
        // Relationship intelligence fields (v2 only; values derived from interactions).
        for entity in [P, C] {
            for (key, name) in RI_FIELDS {
                self.field(
                    Some(key),
                    name,
                    RelationshipIntelligence,
                    None,
                    V::Interaction,
                    entity,
                    None,
                    vec![],
                );
            }
        }
        // List-specific fields on every list.
        let lists = self.ds.lists.clone();
        for list in &lists {
            let l = Some(list.id);
            let e = list.entity;
            let status = self.options(&["New", "In Progress", "Diligence", "Won", "Lost"], true);
            self.field(None, "Status", List, None, V::RankedDropdown, e, l, status);
            self.field(None, "Owners", List, None, V::PersonMulti, e, l, vec![]);
            self.field(None, "Deal Size", List, None, V::Number, e, l, vec![]);
            self.field(None, "Close Date", List, None, V::Datetime, e, l, vec![]);
            self.field(None, "Summary", List, None, V::Text, e, l, vec![]);
            let prio = self.options(&["Low", "Medium", "High"], false);
            self.field(None, "Priority", List, None, V::Dropdown, e, l, prio);
            self.field(None, "Score", List, None, V::FormulaNumber, e, l, vec![]);
            if e == EntityKind::Opportunity {
                self.field(None, "Target Company", List, None, V::Company, e, l, vec![]);
                self.field(None, "Region", List, None, V::LocationMulti, e, l, vec![]);
            }
        }
    }

    fn interactions(&mut self) {
        let users = self.user_ids();
        let externals = self.external_ids();
        if externals.is_empty() {
            return;
        }
        let mut seqs: BTreeMap<InteractionKind, IdSeq> = InteractionKind::ALL
            .into_iter()
            .map(|k| (k, IdSeq::new(1)))
            .collect();
        for _ in 0..self.sizes.interactions {
            let kind = *self.pick(&InteractionKind::ALL);
            let id = seqs.get_mut(&kind).expect("seq").take(&mut self.rng);
            let internal = *self.pick(&users);
            let n_ext = self.rng.random_range(1..=3);
            let mut persons = vec![];
            let sent = self.chance(0.6);
            let mut ext: Vec<Id> = vec![];
            for _ in 0..n_ext {
                let p = *self.pick(&externals);
                if !ext.contains(&p) {
                    ext.push(p);
                }
            }
            if sent {
                persons.push(internal);
                persons.extend(&ext);
            } else {
                persons.extend(&ext);
                persons.push(internal);
            }
            // Meetings can be in the future (next event); the rest already happened.
            let date = if kind == InteractionKind::Meeting && self.chance(0.1) {
                NOW + self.rng.random_range(DAY..60 * DAY)
            } else {
                self.past(6)
            };
            let title = match kind {
                InteractionKind::Meeting => {
                    if self.chance(0.1) {
                        None
                    } else {
                        Some(format!("Intro call #{id}"))
                    }
                }
                InteractionKind::Email => Some(format!("Re: diligence follow-up {id}")),
                _ => None,
            };
            let all_day = kind == InteractionKind::Meeting && self.chance(0.05);
            let cc_count = if kind == InteractionKind::Email {
                self.rng.random_range(0..persons.len())
            } else {
                0
            };
            let manual = matches!(kind, InteractionKind::Call)
                || (kind != InteractionKind::Email && self.chance(0.3));
            self.ds.interactions.push(Interaction {
                kind,
                id,
                date,
                end_time: if kind == InteractionKind::Meeting && !all_day {
                    Some(date + 3_600_000)
                } else {
                    None
                },
                title,
                person_ids: persons,
                cc_count,
                sent,
                manual_creator_id: if manual { Some(internal) } else { None },
                all_day,
                note_ids: vec![],
            });
        }
        self.ds.interactions.sort_by_key(|i| (i.kind, i.id));
    }

    fn entity_field_values(&mut self) {
        let fields: Vec<Field> = self
            .ds
            .fields
            .iter()
            .filter(|f| f.list_id.is_none())
            .cloned()
            .collect();
        let persons: Vec<(Id, Vec<Id>)> = self
            .ds
            .persons
            .iter()
            .map(|p| (p.id, p.company_ids.clone()))
            .collect();
        let companies: Vec<(Id, Vec<Id>)> = self
            .ds
            .companies
            .iter()
            .map(|c| (c.id, c.person_ids.clone()))
            .collect();
        let ri = self.relationship_index();
        for (pid, _) in &persons {
            for f in fields.iter().filter(|f| f.entity == EntityKind::Person) {
                let value = if f.kind == FieldKind::RelationshipIntelligence {
                    ri.get(&(EntityKind::Person, *pid, f.key.clone()))
                        .copied()
                        .map(|x| Value::Interaction(Some(x)))
                } else if f.key.starts_with("field-")
                    && f.name == "Referrers"
                    && *pid == persons[persons.len() / 2].0
                {
                    // One person with more referrers than v2's 100-item truncation.
                    let ids: Vec<Id> = persons.iter().take(130).map(|p| p.0).collect();
                    Some(Value::PersonMulti(Some(ids)))
                } else {
                    self.random_value(f)
                };
                if let Some(value) = value {
                    self.push_value(f, *pid, None, value);
                }
            }
        }
        for (cid, people) in &companies {
            for f in fields.iter().filter(|f| f.entity == EntityKind::Company) {
                let value = if f.kind == FieldKind::RelationshipIntelligence {
                    ri.get(&(EntityKind::Company, *cid, f.key.clone()))
                        .copied()
                        .map(|x| Value::Interaction(Some(x)))
                } else if f.name == "Key People" && people.len() > 100 {
                    Some(Value::PersonMulti(Some(people.clone())))
                } else {
                    self.random_value(f)
                };
                if let Some(value) = value {
                    self.push_value(f, *cid, None, value);
                }
            }
        }
    }

    /// For each (entity, relationship-intelligence field key): the interaction it points at.
    fn relationship_index(&self) -> BTreeMap<(EntityKind, Id, String), (InteractionKind, Id)> {
        let mut by_entity: BTreeMap<(EntityKind, Id), Vec<&Interaction>> = BTreeMap::new();
        for i in &self.ds.interactions {
            let mut companies = BTreeSet::new();
            for pid in &i.person_ids {
                by_entity
                    .entry((EntityKind::Person, *pid))
                    .or_default()
                    .push(i);
                if let Ok(ix) = self.ds.persons.binary_search_by_key(pid, |p| p.id) {
                    companies.extend(self.ds.persons[ix].company_ids.iter().copied());
                }
            }
            for cid in companies {
                by_entity
                    .entry((EntityKind::Company, cid))
                    .or_default()
                    .push(i);
            }
        }
        let mut out = BTreeMap::new();
        for ((kind, id), list) in by_entity {
            for (key, _) in RI_FIELDS {
                let pick = |filter: &dyn Fn(&&&Interaction) -> bool, latest: bool| {
                    let it = list.iter().filter(filter);
                    if latest {
                        it.max_by_key(|i| (i.date, i.id)).map(|i| (i.kind, i.id))
                    } else {
                        it.min_by_key(|i| (i.date, i.id)).map(|i| (i.kind, i.id))
                    }
                };
                let past = |i: &&&Interaction| i.date <= NOW;
                let of = |k: InteractionKind| move |i: &&&Interaction| i.kind == k && i.date <= NOW;
                let found = match key {
                    "first-email" => pick(&of(InteractionKind::Email), false),
                    "last-email" => pick(&of(InteractionKind::Email), true),
                    // Events are meetings and calls (v1 serves both as `events`).
                    "first-event" => pick(
                        &|i: &&&Interaction| i.kind.is_event() && i.date <= NOW,
                        false,
                    ),
                    "last-event" => pick(
                        &|i: &&&Interaction| i.kind.is_event() && i.date <= NOW,
                        true,
                    ),
                    "next-event" => pick(
                        &|i: &&&Interaction| i.kind.is_event() && i.date > NOW,
                        false,
                    ),
                    "first-chat-message" => pick(&of(InteractionKind::ChatMessage), false),
                    "last-chat-message" => pick(&of(InteractionKind::ChatMessage), true),
                    _ => pick(&past, true), // last-contact
                };
                if let Some(found) = found {
                    out.insert((kind, id, key.to_string()), found);
                }
            }
        }
        out
    }

    fn push_value(&mut self, f: &Field, entity_id: Id, list_entry_id: Option<Id>, value: Value) {
        let elements = match &value {
            Value::PersonMulti(Some(v))
            | Value::CompanyMulti(Some(v))
            | Value::DropdownMulti(Some(v)) => v.len(),
            Value::FilterableTextMulti(Some(v)) => v.len(),
            Value::NumberMulti(Some(v)) => v.len(),
            Value::LocationMulti(Some(v)) => v.len(),
            _ => 1,
        };
        let v1_ids = (0..elements)
            .map(|_| self.value_ids.take(&mut self.rng))
            .collect();
        let created_at = self.past(4);
        let updated_at = if self.chance(0.5) {
            Some(created_at + self.rng.random_range(0..(NOW - created_at).max(1)))
        } else {
            None
        };
        self.ds.field_values.push(FieldValue {
            field_id: f.id,
            entity_id,
            list_entry_id,
            value,
            v1_ids,
            created_at,
            updated_at,
        });
    }

    fn location(&mut self) -> Location {
        let (city, state, country, continent) = *self.pick(CITIES);
        Location {
            street_address: if self.chance(0.3) {
                Some(format!("{} Market St", self.rng.random_range(1..999)))
            } else {
                None
            },
            city: Some(city.into()),
            state: Some(state.into()),
            country: Some(country.into()),
            continent: if self.chance(0.5) {
                Some(continent.into())
            } else {
                None
            },
        }
    }

    /// A random value for `f`, or `None` (about one in five) for an empty cell.
    fn random_value(&mut self, f: &Field) -> Option<Value> {
        if self.chance(0.2) {
            return None;
        }
        // The pools of ids, kept between calls: collecting them for every value made
        // generating a large data set quadratic (minutes for 100,000 persons).
        if self.person_ids.len() != self.ds.persons.len() {
            self.person_ids = self.ds.persons.iter().map(|p| p.id).collect();
        }
        if self.company_ids.len() != self.ds.companies.len() {
            self.company_ids = self.ds.companies.iter().map(|c| c.id).collect();
        }
        let (persons, companies) = (
            std::mem::take(&mut self.person_ids),
            std::mem::take(&mut self.company_ids),
        );
        let value = self.value_of(f, &persons, &companies);
        (self.person_ids, self.company_ids) = (persons, companies);
        value
    }

    fn value_of(&mut self, f: &Field, persons: &[Id], companies: &[Id]) -> Option<Value> {
        let n = self.rng.random_range(1..=3);
        Some(match f.value_type {
            ValueType::Person => Value::Person(Some(*self.pick(persons))),
            ValueType::PersonMulti => Value::PersonMulti(Some(self.sample(persons, n))),
            ValueType::Company if companies.is_empty() => return None,
            ValueType::Company => Value::Company(Some(*self.pick(companies))),
            ValueType::CompanyMulti if companies.is_empty() => return None,
            ValueType::CompanyMulti => Value::CompanyMulti(Some(self.sample(companies, n))),
            ValueType::FilterableText => Value::FilterableText(Some(self.pick(STAGES).to_string())),
            ValueType::FilterableTextMulti => {
                let mut v: Vec<String> = INDUSTRIES
                    .choose_multiple(&mut self.rng, n)
                    .map(|s| s.to_string())
                    .collect();
                v.sort();
                Value::FilterableTextMulti(Some(v))
            }
            ValueType::Number => {
                // Mix integers and fractions; v2 numbers are doubles.
                let x: f64 = if self.chance(0.5) {
                    self.rng.random_range(0..5_000_000) as f64
                } else {
                    (self.rng.random_range(0..1_000_000) as f64) / 100.0
                };
                Value::Number(Some(x))
            }
            ValueType::NumberMulti => Value::NumberMulti(Some(
                (0..n)
                    .map(|_| self.rng.random_range(0..100_000) as f64)
                    .collect(),
            )),
            ValueType::Datetime => Value::Datetime(Some(self.past(30) / 1000 * 1000)),
            ValueType::Location => Value::Location(Some(self.location())),
            ValueType::LocationMulti => {
                Value::LocationMulti(Some((0..n).map(|_| self.location()).collect()))
            }
            ValueType::Text => {
                let texts = [
                    "Met at Web Summit; strong technical founder.",
                    "Multi-line\nnote with \"quotes\" and a tab\there.",
                    "日本語のメモ — naïve café ☕",
                    "",
                ];
                Value::Text(Some(self.pick(&texts).to_string()))
            }
            ValueType::RankedDropdown => {
                Value::RankedDropdown(Some(self.pick(&f.dropdown_options).id))
            }
            ValueType::Dropdown => Value::Dropdown(Some(self.pick(&f.dropdown_options).id)),
            ValueType::DropdownMulti => {
                let mut v: Vec<Id> = f
                    .dropdown_options
                    .choose_multiple(&mut self.rng, n)
                    .map(|o| o.id)
                    .collect();
                v.sort();
                Value::DropdownMulti(Some(v))
            }
            ValueType::FormulaNumber => {
                Value::FormulaNumber(Some(self.rng.random_range(0..10_000) as f64 / 10.0))
            }
            ValueType::Interaction => return None,
        })
    }

    fn list_field_values(&mut self) {
        let entries = self.ds.list_entries.clone();
        let fields: Vec<Field> = self
            .ds
            .fields
            .iter()
            .filter(|f| f.list_id.is_some())
            .cloned()
            .collect();
        for entry in &entries {
            for f in fields.iter().filter(|f| f.list_id == Some(entry.list_id)) {
                if let Some(value) = self.random_value(f) {
                    self.push_value(f, entry.entity_id, Some(entry.id), value);
                }
            }
        }
    }

    fn saved_views(&mut self) {
        let mut ids = IdSeq::new(8_001);
        let lists = self.ds.lists.clone();
        for list in &lists {
            let keys: Vec<String> = self
                .ds
                .fields
                .iter()
                .filter(|f| f.list_id == Some(list.id))
                .map(|f| f.key.clone())
                .collect();
            let views = [
                ("All entries", "sheet", (1, 0)),
                ("Active board", "board", (3, 1)),
            ];
            for (name, kind, modulo) in views {
                let id = ids.take(&mut self.rng);
                let created_at = self.past(3);
                let field_keys = if kind == "sheet" {
                    keys.clone()
                } else {
                    keys.iter().take(2).cloned().collect()
                };
                self.ds.saved_views.push(SavedView {
                    id,
                    list_id: list.id,
                    name: name.into(),
                    kind: kind.into(),
                    created_at,
                    field_keys,
                    entry_modulo: modulo,
                });
            }
        }
    }

    fn notes(&mut self) {
        let users = self.user_ids();
        let persons: Vec<Id> = self.ds.persons.iter().map(|p| p.id).collect();
        let companies: Vec<Id> = self.ds.companies.iter().map(|c| c.id).collect();
        let opps: Vec<Id> = self.ds.opportunities.iter().map(|o| o.id).collect();
        let meetings: Vec<Id> = self
            .ds
            .interactions
            .iter()
            .filter(|i| i.kind == InteractionKind::Meeting)
            .map(|i| i.id)
            .collect();
        let all_interactions: Vec<(InteractionKind, Id)> = self
            .ds
            .interactions
            .iter()
            .map(|i| (i.kind, i.id))
            .collect();
        let mut ids = IdSeq::new(70_001);
        let mut notes = vec![];
        for _ in 0..self.sizes.notes {
            let id = ids.take(&mut self.rng);
            let roll: f64 = self.rng.random();
            let kind = if roll < 0.25 && !all_interactions.is_empty() {
                let (kind, iid) = *self.pick(&all_interactions);
                NoteKind::Interaction { kind, id: iid }
            } else if roll < 0.3 && !meetings.is_empty() {
                NoteKind::AiNotetaker {
                    meeting_id: *self.pick(&meetings),
                }
            } else {
                NoteKind::Entities
            };
            let (np, nc) = (self.rng.random_range(0..=3), self.rng.random_range(0..=2));
            let person_ids = self.sample(&persons, np);
            let company_ids = self.sample(&companies, nc);
            let opportunity_ids = if opps.is_empty() || self.chance(0.7) {
                vec![]
            } else {
                self.sample(&opps, 1)
            };
            let mentioned = if self.chance(0.3) {
                self.sample(&users, 1)
            } else {
                vec![]
            };
            let created_at = self.past(5);
            let updated_at = if self.chance(0.6) {
                Some(created_at + self.rng.random_range(0..(NOW - created_at).max(1)))
            } else {
                None
            };
            let html = match self.rng.random_range(0..4) {
                0 => None,
                1 => Some(
                    "<p>Had a lunch meeting with the founders. <strong>Strong team.</strong></p>"
                        .to_string(),
                ),
                2 => Some(format!(
                    "<p>Follow up on term sheet — €{}k · naïve question about 📈</p>",
                    id % 997
                )),
                _ => Some("<ul><li>Revenue growing</li><li>Hiring a CTO</li></ul>".to_string()),
            };
            let sharing = ["public", "private", "custom"][self.rng.random_range(0..3)].to_string();
            notes.push(Note {
                id,
                kind,
                creator_id: *self.pick(&users),
                html,
                person_ids,
                company_ids,
                opportunity_ids,
                mentioned_person_ids: mentioned,
                sharing,
                created_at,
                updated_at,
            });
        }
        // Replies: about one note in ten has one to three.
        let roots: Vec<(Id, Millis, Option<Id>)> = notes
            .iter()
            .map(|n| {
                (
                    n.id,
                    n.created_at,
                    n.interaction()
                        .filter(|i| i.0 == InteractionKind::Meeting)
                        .map(|i| i.1),
                )
            })
            .collect();
        for (parent_id, parent_created, meeting) in roots {
            if !self.chance(0.1) {
                continue;
            }
            for _ in 0..self.rng.random_range(1..=3) {
                let id = ids.take(&mut self.rng);
                let kind = match meeting {
                    Some(meeting_id) if self.chance(0.3) => NoteKind::AiNotetakerReply {
                        parent_id,
                        meeting_id,
                    },
                    _ => NoteKind::UserReply { parent_id },
                };
                let created_at =
                    parent_created + self.rng.random_range(0..(NOW - parent_created).max(1));
                notes.push(Note {
                    id,
                    kind,
                    creator_id: *self.pick(&users),
                    html: Some(format!("<p>Reply {id}: agreed, let's move forward.</p>")),
                    person_ids: vec![],
                    company_ids: vec![],
                    opportunity_ids: vec![],
                    mentioned_person_ids: vec![],
                    sharing: "public".into(),
                    created_at,
                    updated_at: None,
                });
            }
        }
        notes.sort_by_key(|n| n.id);
        // Interactions list the notes taken on them.
        for n in &notes {
            if let Some((kind, iid)) = n.interaction()
                && let Ok(ix) = self
                    .ds
                    .interactions
                    .binary_search_by_key(&(kind, iid), |i| (i.kind, i.id))
                && n.parent_id().is_none()
            {
                self.ds.interactions[ix].note_ids.push(n.id);
            }
        }
        self.ds.notes = notes;
    }

    fn reminders(&mut self) {
        let users = self.user_ids();
        let persons = self.external_ids();
        let companies: Vec<Id> = self.ds.companies.iter().map(|c| c.id).collect();
        let opps: Vec<Id> = self.ds.opportunities.iter().map(|o| o.id).collect();
        let mut ids = IdSeq::new(15_001);
        for k in 0..self.sizes.reminders {
            let id = ids.take(&mut self.rng);
            let recurring = self.chance(0.3);
            let created_at = self.past(2);
            let due_date = created_at + self.rng.random_range(DAY..90 * DAY);
            let completed = self.chance(0.3);
            let status = if completed {
                0
            } else if due_date < NOW {
                2
            } else {
                1
            };
            let owner = *self.pick(&users);
            let creator_id = *self.pick(&users);
            let (person_id, company_id, opportunity_id) = match k % 3 {
                0 if !persons.is_empty() => (Some(*self.pick(&persons)), None, None),
                1 if !companies.is_empty() => (None, Some(*self.pick(&companies)), None),
                2 if !opps.is_empty() => (None, None, Some(*self.pick(&opps))),
                _ => (None, None, None),
            };
            let reset_type = if recurring {
                Some(self.rng.random_range(0..3))
            } else {
                None
            };
            self.ds.reminders.push(Reminder {
                id,
                kind: if recurring { 1 } else { 0 },
                reset_type,
                reminder_days: if recurring { Some(30) } else { None },
                status,
                content: format!("Follow up #{id} — send the deck"),
                created_at,
                due_date,
                completed_at: if completed {
                    Some(due_date.min(NOW))
                } else {
                    None
                },
                creator_id,
                owner_id: owner,
                completer_id: if completed { Some(owner) } else { None },
                person_id,
                company_id,
                opportunity_id,
            });
        }
    }

    fn entity_files(&mut self) {
        let users = self.user_ids();
        let persons = self.external_ids();
        let companies: Vec<Id> = self.ds.companies.iter().map(|c| c.id).collect();
        let opps: Vec<Id> = self.ds.opportunities.iter().map(|o| o.id).collect();
        let mut ids = IdSeq::new(43_001);
        let names = [
            "Pitch Deck.pdf",
            "Cap table (final).xlsx",
            "Memo – Q3.docx",
            "données.csv",
        ];
        for k in 0..self.sizes.entity_files {
            let id = ids.take(&mut self.rng);
            let (person_id, company_id, opportunity_id) = match k % 3 {
                0 if !persons.is_empty() => (Some(*self.pick(&persons)), None, None),
                1 if !companies.is_empty() => (None, Some(*self.pick(&companies)), None),
                2 if !opps.is_empty() => (None, None, Some(*self.pick(&opps))),
                _ if !persons.is_empty() => (Some(*self.pick(&persons)), None, None),
                _ => (None, None, None),
            };
            let created_at = self.past(4);
            let name = self.pick(&names).to_string();
            let size = self.rng.random_range(100..50_000_000);
            let uploader_id = *self.pick(&users);
            self.ds.entity_files.push(EntityFile {
                id,
                name,
                size,
                person_id,
                company_id,
                opportunity_id,
                uploader_id,
                created_at,
            });
        }
    }

    /// History for tracked list fields: a create, maybe updates, ending at the current value.
    fn field_value_changes(&mut self) {
        let users = self.user_ids();
        let tracked: BTreeMap<Id, Field> = self
            .ds
            .fields
            .iter()
            .filter(|f| f.track_changes && f.list_id.is_some())
            .map(|f| (f.id, f.clone()))
            .collect();
        let mut ids = IdSeq::new(50_000_001);
        let values = self.ds.field_values.clone();
        for fv in values.iter().filter(|v| tracked.contains_key(&v.field_id)) {
            let f = &tracked[&fv.field_id];
            let singles = single_elements(&fv.value);
            let mut t = fv.created_at;
            if !f.allows_multiple() && self.chance(0.4) {
                // An earlier value that was later replaced.
                if let Some(old) = self.random_value(f) {
                    for el in single_elements(&old).into_iter().take(1) {
                        let id = ids.take(&mut self.rng);
                        let changer_id = *self.pick(&users);
                        self.ds.field_value_changes.push(FieldValueChange {
                            id,
                            field_id: f.id,
                            entity_id: fv.entity_id,
                            list_entry_id: fv.list_entry_id,
                            action_type: 0,
                            changer_id,
                            changed_at: t - DAY,
                            value: el,
                        });
                    }
                }
                t += 1000;
                for el in singles.iter().take(1) {
                    let id = ids.take(&mut self.rng);
                    let changer_id = *self.pick(&users);
                    self.ds.field_value_changes.push(FieldValueChange {
                        id,
                        field_id: f.id,
                        entity_id: fv.entity_id,
                        list_entry_id: fv.list_entry_id,
                        action_type: 2,
                        changer_id,
                        changed_at: t,
                        value: el.clone(),
                    });
                }
                continue;
            }
            for el in singles {
                let id = ids.take(&mut self.rng);
                let changer_id = *self.pick(&users);
                self.ds.field_value_changes.push(FieldValueChange {
                    id,
                    field_id: f.id,
                    entity_id: fv.entity_id,
                    list_entry_id: fv.list_entry_id,
                    action_type: 0,
                    changer_id,
                    changed_at: t,
                    value: el,
                });
                t += 1000;
            }
        }
        self.ds.field_value_changes.sort_by_key(|c| c.id);
    }

    fn relationship_strengths(&mut self) {
        let mut pairs: BTreeMap<(Id, Id), u32> = BTreeMap::new();
        for i in &self.ds.interactions {
            let (internal, external): (Vec<Id>, Vec<Id>) = i.person_ids.iter().partition(|pid| {
                self.ds
                    .persons
                    .binary_search_by_key(*pid, |p| p.id)
                    .map(|ix| self.ds.persons[ix].kind == PersonKind::Internal)
                    .unwrap_or(false)
            });
            for a in &internal {
                for b in &external {
                    *pairs.entry((*b, *a)).or_default() += 1;
                }
            }
        }
        for ((external_id, internal_id), n) in pairs {
            let jitter = self.rng.random_range(0..100) as f64 / 1000.0;
            let strength = (1.0 - 1.0 / (1.0 + n as f64)) * 0.9 + jitter;
            self.ds.relationship_strengths.push(RelationshipStrength {
                internal_id,
                external_id,
                strength: (strength * 1000.0).round() / 1000.0,
            });
        }
    }

    fn webhooks(&mut self) {
        let creator = self.ds.api_user_id;
        self.ds.webhook_subscriptions = vec![
            WebhookSubscription {
                id: 1_234,
                webhook_url: "https://hooks.example.com/affinity".into(),
                subscriptions: vec!["list_entry.created".into(), "person.updated".into()],
                disabled: false,
                created_by: creator,
            },
            WebhookSubscription {
                id: 2_345,
                webhook_url: "https://hooks.example.com/all".into(),
                subscriptions: vec![],
                disabled: true,
                created_by: creator,
            },
        ];
    }
}

/// v2 relationship-intelligence field keys and names.
pub const RI_FIELDS: [(&str, &str); 8] = [
    ("first-email", "First Email"),
    ("last-email", "Last Email"),
    ("first-event", "First Event"),
    ("last-event", "Last Event"),
    ("next-event", "Next Event"),
    ("first-chat-message", "First Chat Message"),
    ("last-chat-message", "Last Chat Message"),
    ("last-contact", "Last Contact"),
];

/// Splits a multi-value into single-element values (v1 serves one row per element).
pub fn single_elements(value: &Value) -> Vec<Value> {
    match value {
        Value::PersonMulti(Some(v)) => v.iter().map(|x| Value::Person(Some(*x))).collect(),
        Value::CompanyMulti(Some(v)) => v.iter().map(|x| Value::Company(Some(*x))).collect(),
        Value::DropdownMulti(Some(v)) => v.iter().map(|x| Value::Dropdown(Some(*x))).collect(),
        Value::FilterableTextMulti(Some(v)) => v
            .iter()
            .map(|x| Value::FilterableText(Some(x.clone())))
            .collect(),
        Value::NumberMulti(Some(v)) => v.iter().map(|x| Value::Number(Some(*x))).collect(),
        Value::LocationMulti(Some(v)) => {
            v.iter().map(|x| Value::Location(Some(x.clone()))).collect()
        }
        Value::PersonMulti(None)
        | Value::CompanyMulti(None)
        | Value::DropdownMulti(None)
        | Value::FilterableTextMulti(None)
        | Value::NumberMulti(None)
        | Value::LocationMulti(None) => vec![],
        single => vec![single.clone()],
    }
}
