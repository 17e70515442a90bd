//! The object sink on a directory of this machine (the CLI's `--out DIR`): writes go aside
//! and are renamed into place, so a reader never sees half an object.

use crate::sink::{Listed, ObjectSink};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// A directory on this machine.
pub struct LocalDir {
    root: PathBuf,
}

/// Where objects are written before they are renamed into place: one folder under the root
/// (same file system, so the rename is atomic), so a crash mid-write leaves its litter here
/// and not among the batches.
const TMP_DIR: &str = ".affinity-sync-tmp";

impl LocalDir {
    /// Creates the directory if needed and checks that it can be written.
    pub fn open(root: &Path) -> Result<LocalDir> {
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create the output directory {}", root.display()))?;
        let probe = root.join(format!(".affinity-sync-write-test-{}", std::process::id()));
        std::fs::write(&probe, b"ok")
            .with_context(|| format!("the output directory {} is not writable", root.display()))?;
        std::fs::remove_file(&probe).ok();
        // Half-written objects of a crashed run, if any (an hour old: not a live writer's).
        if let Ok(stale) = std::fs::read_dir(root.join(TMP_DIR)) {
            for e in stale.flatten() {
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age.as_secs() > 3600);
                if old {
                    std::fs::remove_file(e.path()).ok();
                }
            }
        }
        Ok(LocalDir {
            root: root.to_path_buf(),
        })
    }

    /// A directory that must exist already, opened to read (`status`): nothing is created.
    pub fn existing(root: &Path) -> Result<LocalDir> {
        anyhow::ensure!(
            root.is_dir(),
            "{} is not a directory: name the directory a sync wrote to",
            root.display()
        );
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
            "refusing to touch a path outside the output directory: {key:?}"
        );
        Ok(self.root.join(key))
    }
}

/// Every file under `dir`, as keys relative to `root`; hidden entries (`.name`, such as the
/// temporary folder) are skipped.
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for e in entries {
        let e = e?;
        let path = e.path();
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if e.file_type()?.is_dir() {
            walk(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root).expect("under the root");
            out.push(
                rel.components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/"),
            );
        }
    }
    Ok(())
}

impl ObjectSink for LocalDir {
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let path = self.path(key)?;
        let tmp_dir = self.root.join(TMP_DIR);
        let bytes = bytes.to_vec();
        // One blocking task for the whole write: as `tokio::fs` calls, its five or six
        // file system calls were as many hand-offs to the blocking pool, and those cost more
        // CPU than the calls themselves.
        tokio::task::spawn_blocking(move || put_blocking(&path, &tmp_dir, &bytes))
            .await
            .context("writing to the output directory")?
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(key)?;
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let dir = self.path(prefix.trim_end_matches('/'))?;
        let root = self.root.clone();
        let mut keys = tokio::task::spawn_blocking(move || {
            let mut keys = vec![];
            walk(&root, &dir, &mut keys).map(|_| keys)
        })
        .await
        .context("listing the output directory")?
        .with_context(|| format!("listing {prefix} in {}", self.root.display()))?;
        keys.sort();
        Ok(keys)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || delete_blocking(&root, &path))
            .await
            .context("deleting from the output directory")?
    }

    async fn list_after(&self, prefix: &str, start_after: Option<&str>) -> Result<Vec<Listed>> {
        let keys = self.list(prefix).await?;
        let root = self.root.clone();
        let start_after = start_after.map(str::to_string);
        tokio::task::spawn_blocking(move || {
            keys.into_iter()
                .filter(|k| start_after.as_deref().is_none_or(|a| k.as_str() > a))
                .filter_map(|key| {
                    // A file removed since the listing is not listed.
                    let meta = std::fs::metadata(root.join(&key)).ok()?;
                    let modified = meta
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map(|d| d.as_secs() as i64);
                    Some(Listed { key, modified })
                })
                .collect()
        })
        .await
        .context("listing the output directory")
    }

    async fn folders(&self, prefix: &str) -> Result<Vec<String>> {
        let prefix = prefix.trim_matches('/');
        let dir = if prefix.is_empty() {
            self.root.clone()
        } else {
            self.path(prefix)?
        };
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
        };
        let mut names = vec![];
        for e in entries {
            let e = e.with_context(|| format!("listing {}", dir.display()))?;
            let name = e.file_name().to_string_lossy().to_string();
            if !name.starts_with('.') && e.file_type().is_ok_and(|t| t.is_dir()) {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }
}

/// Writes `bytes` aside in `tmp_dir`, then renames the file to `path`: the final name only
/// ever holds a complete object.
fn put_blocking(path: &Path, tmp_dir: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().expect("keys have a folder");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::create_dir_all(tmp_dir).with_context(|| format!("creating {}", tmp_dir.display()))?;
    let tmp = tmp_dir.join(format!(
        "{}.{}",
        rand::random::<u64>(),
        path.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    let mut attempt = 0;
    loop {
        match std::fs::rename(&tmp, path) {
            Ok(()) => return Ok(()),
            // A concurrent delete removed the folder as it emptied: make it again.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempt < 3 => {
                attempt += 1;
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            Err(e) => {
                std::fs::remove_file(&tmp).ok();
                return Err(e).with_context(|| format!("moving {} into place", path.display()));
            }
        }
    }
}

/// Removes the file at `path`, and the folders under `root` it leaves empty (folders are
/// only a file system's way to hold keys).
fn delete_blocking(root: &Path, path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
    }
    let mut dir = path.parent();
    while let Some(d) = dir.filter(|d| *d != root) {
        if std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_local_dir_puts_gets_lists_and_deletes() {
        let root = std::env::temp_dir().join(format!("affinity-sink-{}", std::process::id()));
        let d = LocalDir::open(&root).unwrap();
        d.put("a/b/one.json", b"1").await.unwrap();
        d.put("a/two.json", b"2").await.unwrap();
        d.put("c/three.json", b"3").await.unwrap();
        assert_eq!(d.get("a/two.json").await.unwrap(), Some(b"2".to_vec()));
        assert_eq!(d.get("a/missing.json").await.unwrap(), None);
        assert_eq!(
            d.list("a").await.unwrap(),
            vec!["a/b/one.json", "a/two.json"]
        );
        assert!(d.list("nothing/here").await.unwrap().is_empty());
        d.delete("a/two.json").await.unwrap();
        d.delete("a/two.json").await.unwrap();
        assert_eq!(d.list("a/").await.unwrap(), vec!["a/b/one.json"]);
        d.delete("a/b/one.json").await.unwrap();
        assert!(
            !root.join("a").exists(),
            "empty folders go with their last key"
        );
        assert!(root.join("c").is_dir());
        assert!(d.put("../escape", b"x").await.is_err());
        assert!(d.get("/etc/passwd").await.is_err());
        std::fs::remove_dir_all(&root).ok();
    }
}
