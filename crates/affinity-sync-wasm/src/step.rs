//! The `affinity:sync/step` export (`wit/sync.wit`): the page step without HTTP, for hosts
//! that embed the component and carry the jobs themselves. Bindings by `wit-bindgen`.

use crate::deployment::{self, StartError};
use affinity_sync_io::queued::page::Handled;

wit_bindgen::generate!({
    path: "../../wit",
    world: "affinity:sync/sync-step",
});

use exports::affinity::sync::step::{Guest, Outcome};

struct Step;

impl Guest for Step {
    fn run_job(message: String, attempt: u32) -> Result<Outcome, String> {
        deployment::init_logging();
        let app =
            deployment::app().map_err(|e| format!("the component is misconfigured: {e:#}"))?;
        match deployment::run_job(&app, &message, attempt.max(1)) {
            Ok(Handled::Written) => Ok(Outcome::Written),
            Ok(Handled::AlreadyDone) => Ok(Outcome::AlreadyDone),
            Ok(Handled::Retried { delay }) => Ok(Outcome::Retried(delay)),
            Ok(Handled::Parked) => Ok(Outcome::Parked),
            Err(e) => Err(format!(
                "the page was not finished ({e:#}); deliver the message again"
            )),
        }
    }

    fn start(request: String) -> Result<String, String> {
        deployment::init_logging();
        let app =
            deployment::app().map_err(|e| format!("the component is misconfigured: {e:#}"))?;
        match deployment::start(&app, request.as_bytes()) {
            Ok(started) => Ok(serde_json::to_string(&started).expect("json")),
            Err(StartError::BadRequest(e)) => Err(e),
            Err(StartError::Failed(e)) => Err(format!("the sync could not be started: {e:#}")),
        }
    }
}

export!(Step);
