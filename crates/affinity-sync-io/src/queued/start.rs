//! Starting a sync: on Lambda `{"action": "start"}` from the EventBridge schedule or a direct
//! invoke, or `POST /sync` on the Function URL; on the component `POST /start`.
//!
//! The run's settings go to `_jobs/sync_id=<id>/run.json`, each root job is journaled as
//! pending and then sent, and `seeded` is noted last: the sync cannot be seen as complete
//! before all its first pages are queued.

use super::settings::Settings;
use super::{Deployment, JobQueue, PageFetcher};
use crate::{ObjectSink, journal};
use affinity_sync_core::layout::{self, JobState};
use affinity_sync_core::{Format, catalog};
use anyhow::Result;
use serde::{Deserialize, Serialize};

/// What to sync. Every field is optional: the deployment's settings fill in the rest.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// Always `"start"` in an event; absent in a `POST /sync` body.
    #[serde(default)]
    pub action: Option<String>,
    /// Comma-separated stream names (default: `AFFINITY_SYNC_STREAMS`).
    #[serde(default)]
    pub streams: Option<String>,
    /// `parquet` or `ndjson` (default: `AFFINITY_SYNC_FORMAT`).
    #[serde(default)]
    pub format: Option<String>,
    /// Start even though another sync still has pages queued (default: skip, so a schedule
    /// that fires while a long sync runs does not double the load on Affinity).
    #[serde(default)]
    pub force: bool,
    /// Read notes and interactions only since the latest complete sync that had them (the
    /// other streams in full); loaders upsert them on the earlier syncs' rows.
    #[serde(default)]
    pub incremental: bool,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum Started {
    Started {
        sync_id: String,
        streams: Vec<String>,
        format: String,
        jobs: usize,
    },
    /// Not started: `running` still has pages queued.
    Skipped { running: String },
}

/// A sync that has queued pages (not only parked ones) and no manifest yet.
async fn running<S: ObjectSink, Q: JobQueue, F: PageFetcher>(
    app: &Deployment<S, Q, F>,
) -> Result<Option<String>> {
    for id in journal::unfinished(&app.sink, "").await?.into_iter().rev() {
        let done = app
            .sink
            .get(&layout::sync_manifest_key("", &id))
            .await?
            .is_some();
        let pending = app
            .sink
            .list(&layout::job_state_dir("", &id, JobState::Pending))
            .await?;
        if !done && !pending.is_empty() {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// What a valid request asks for.
pub struct Resolved {
    streams: Vec<&'static catalog::Stream>,
    format: Format,
    force: bool,
    incremental: bool,
}

impl StartRequest {
    /// Checks the request against the catalog and fills in the deployment's defaults; the error
    /// says what was wrong with it.
    pub fn resolve(self, settings: &Settings) -> Result<Resolved, String> {
        if let Some(action) = self.action.as_deref().filter(|a| *a != "start") {
            return Err(format!(
                "unknown action {action:?}: the function understands {{\"action\": \"start\"}}"
            ));
        }
        let streams = catalog::select(self.streams.as_deref().or(settings.streams.as_deref()))
            .map_err(|e| format!("streams: {e}"))?;
        let format = match self.format.as_deref() {
            None => settings.format,
            Some(f) => {
                Format::parse(f).ok_or_else(|| format!("format {f:?}: use parquet or ndjson"))?
            }
        };
        Ok(Resolved {
            streams,
            format,
            force: self.force,
            incremental: self.incremental,
        })
    }
}

/// Seeds a sync: its run, then its first pages, journaled and sent.
pub async fn start<S: ObjectSink, Q: JobQueue, F: PageFetcher>(
    app: &Deployment<S, Q, F>,
    req: Resolved,
) -> Result<Started> {
    let Resolved {
        streams,
        format,
        force,
        incremental,
    } = req;
    if !force && let Some(id) = running(app).await? {
        tracing::warn!(running = %id, "not starting: sync {id} still has pages queued (start with \"force\": true to run both)");
        return Ok(Started::Skipped { running: id });
    }
    let since = if incremental {
        layout::incremental_since(&streams, &journal::history(&app.sink).await?)
    } else {
        Default::default()
    };
    let settings = &app.settings;
    let home = layout::Home {
        runs_on: settings.runs_on.into(),
        queue_url: Some(settings.queue_url.clone()),
        dead_letter_url: Some(settings.dead_letter_url.clone()),
        dead_letter_arn: settings.dead_letter_arn.clone(),
    };
    let mut run = journal::new_run(&streams, format, since, home);
    let sync_id = run.sync_id.clone();
    journal::save_run(&app.sink, "", &run).await?;
    let roots = journal::root_jobs(&run)?;
    let secret = app.secrets.job_secret.as_ref();
    journal::enqueue(&app.sink, "", &roots, secret).await?;
    app.queue
        .send(&super::encode_jobs(&roots, secret), 0, 1)
        .await?;
    run.seeded = true;
    journal::save_run(&app.sink, "", &run).await?;
    tracing::info!(sync = %sync_id, jobs = roots.len(), "sync started");
    // Pages that finished before `seeded` was noted could not complete the sync; if they
    // were all of it, this does.
    if let Some(m) = crate::complete::if_done(&app.sink, &sync_id).await? {
        super::page::emit(app, |f, t| {
            affinity_sync_core::metrics::SyncDone::from_manifest(&m).emf(f, t)
        });
    }
    Ok(Started::Started {
        sync_id,
        streams: run.streams,
        format: run.format,
        jobs: roots.len(),
    })
}
