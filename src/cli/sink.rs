//! Where batches go. One small trait, one module per backend (local directory today; S3 and
//! memory as the runtimes arrive), in the manner of `object_store`.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// A place to put objects under keys built by the core's `layout`.
pub trait ObjectSink: Send + Sync {
    /// Writes the whole object or nothing: a reader never sees half of it.
    fn put(&self, key: &str, bytes: &[u8]) -> impl Future<Output = Result<()>> + Send;
}

/// A directory on this machine.
pub struct LocalDir {
    root: PathBuf,
}

impl LocalDir {
    /// Creates the directory if needed and checks that it can be written.
    pub fn open(root: &Path) -> Result<LocalDir> {
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create the output directory {}", root.display()))?;
        let probe = root.join(format!(".affinity-sync-write-test-{}", std::process::id()));
        std::fs::write(&probe, b"ok")
            .with_context(|| format!("the output directory {} is not writable", root.display()))?;
        std::fs::remove_file(&probe).ok();
        Ok(LocalDir {
            root: root.to_path_buf(),
        })
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        // Keys come from the core's layout, but check anyway: nothing may escape the root.
        anyhow::ensure!(
            !key.is_empty()
                && !key.starts_with('/')
                && key
                    .split('/')
                    .all(|p| !p.is_empty() && p != "." && p != ".."),
            "refusing to write outside the output directory: {key:?}"
        );
        Ok(self.root.join(key))
    }
}

impl ObjectSink for LocalDir {
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let path = self.path(key)?;
        let dir = path.parent().expect("keys have a folder");
        tokio::fs::create_dir_all(dir)
            .await
            .with_context(|| format!("creating {}", dir.display()))?;
        // Write beside, then rename: the final name only ever holds a complete object.
        let tmp = dir.join(format!(
            ".{}.tmp-{}",
            path.file_name().unwrap().to_string_lossy(),
            rand::random::<u32>()
        ));
        tokio::fs::write(&tmp, bytes)
            .await
            .with_context(|| format!("writing {}", tmp.display()))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .with_context(|| format!("moving {} into place", path.display()))?;
        Ok(())
    }
}
