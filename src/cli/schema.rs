//! `affinity-sync schema`: every stream and the columns of its tables, in Markdown (what
//! docs/streams.md holds).

use anyhow::Result;

pub async fn run() -> Result<()> {
    print!("{}", affinity_sync_core::catalog::markdown());
    Ok(())
}
