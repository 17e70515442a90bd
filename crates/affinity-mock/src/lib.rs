//! A faithful Affinity API test double.
//!
//! Affinity cannot be reached from CI, so every test, demo and benchmark of affinity-sync runs
//! against this double. It serves the read endpoints of API v1 and v2 that affinity-sync syncs,
//! with the shapes, pagination, authentication, errors and rate-limit headers of the official
//! documents in `shared/affinity/`, from a deterministic data set, and it can misbehave on
//! demand (429 bursts, 5xx, slow, dropped and malformed responses).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use affinity_mock::{MockConfig, MockServer};
//! let double = MockServer::start(MockConfig::default(), "127.0.0.1:0".parse().unwrap()).await?;
//! println!("serving {} persons at {}", double.dataset().persons.len(), double.base_url());
//! # Ok(()) }
//! ```
//!
//! Layout: `model` (the typed data set, also the ground truth), `generate` (seeded data),
//! `store` (lookups), `v1` / `v2` (the two API views; `v2_views` renders the hot v2 pages
//! straight to text), `paging` (tokens), `limits`
//! (rate limits), `faults` (fault injection), `mutate` (seeded changes and their webhook
//! events), `server` (HTTP, auth, control endpoints).

pub mod api;
pub mod faults;
pub mod generate;
pub mod limits;
pub mod model;
pub mod mutate;
pub mod paging;
pub mod server;
pub mod store;
pub mod v1;
pub mod v2;
pub mod v2_views;

pub use faults::{Fault, FaultPlan};
pub use generate::{Sizes, generate};
pub use limits::RateLimits;
pub use model::Dataset;
pub use mutate::{ChangePlan, DeliveryPlan};
pub use server::{ChangeRequest, DatasetView, MockConfig, MockServer, Stats, deliver};
