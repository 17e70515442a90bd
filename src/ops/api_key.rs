//! The Affinity API key: where it comes from, and a type that never prints it.

pub use affinity_sync_io::ApiKey;
use anyhow::{Context, Result, bail};
use std::path::Path;

/// A key and a description of where it was found (for error messages; never the key).
#[derive(Debug, Clone)]
pub struct Resolved {
    pub key: ApiKey,
    pub source: String,
}

/// Finds the key: `--api-key-file`, then `AFFINITY_API_KEY`, then the dlt pipeline's
/// `.dlt/secrets.toml` (`[sources.affinity_source] api_key = "..."`) in the current directory.
pub fn resolve(file: Option<&Path>, env: Option<String>, dlt_dir: &Path) -> Result<Resolved> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the API key file {}", path.display()))?;
        let key = ApiKey::new(text).with_context(|| format!("in {}", path.display()))?;
        return Ok(Resolved {
            key,
            source: format!("the file {}", path.display()),
        });
    }
    if let Some(value) = env.filter(|v| !v.trim().is_empty()) {
        return Ok(Resolved {
            key: ApiKey::new(value).context("in AFFINITY_API_KEY")?,
            source: "AFFINITY_API_KEY".into(),
        });
    }
    let secrets = dlt_dir.join(".dlt/secrets.toml");
    if secrets.is_file() {
        let text = std::fs::read_to_string(&secrets)
            .with_context(|| format!("reading {}", secrets.display()))?;
        let doc: toml::Table = toml::from_str(&text)
            .with_context(|| format!("{} is not valid TOML", secrets.display()))?;
        let key = doc
            .get("sources")
            .and_then(|s| s.get("affinity_source"))
            .and_then(|s| s.get("api_key"))
            .and_then(|k| k.as_str());
        if let Some(key) = key {
            let key = ApiKey::new(key).with_context(|| format!("in {}", secrets.display()))?;
            return Ok(Resolved {
                key,
                source: format!("{} (sources.affinity_source.api_key)", secrets.display()),
            });
        }
    }
    bail!(
        "no Affinity API key: set AFFINITY_API_KEY, pass --api-key-file FILE, \
         or put sources.affinity_source.api_key in .dlt/secrets.toml"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_never_prints() {
        let k = ApiKey::new("sk-very-secret").unwrap();
        assert_eq!(format!("{k:?} {k}"), "ApiKey(***) ***");
        assert_eq!(k.expose(), "sk-very-secret");
        assert!(ApiKey::new("  ").is_err());
        assert!(ApiKey::new("two words").is_err());
    }

    #[test]
    fn sources_in_order_file_env_dlt() {
        let dir = std::env::temp_dir().join(format!("affinity-key-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join(".dlt")).unwrap();
        std::fs::write(
            dir.join(".dlt/secrets.toml"),
            "[sources.affinity_source]\napi_key = \"from-dlt\"\n",
        )
        .unwrap();
        std::fs::write(dir.join("key.txt"), "from-file\n").unwrap();
        let r = resolve(Some(&dir.join("key.txt")), Some("from-env".into()), &dir).unwrap();
        assert_eq!(
            (r.key.expose(), r.source.starts_with("the file")),
            ("from-file", true)
        );
        let r = resolve(None, Some("from-env".into()), &dir).unwrap();
        assert_eq!(
            (r.key.expose(), r.source.as_str()),
            ("from-env", "AFFINITY_API_KEY")
        );
        let r = resolve(None, None, &dir).unwrap();
        assert_eq!(r.key.expose(), "from-dlt");
        std::fs::remove_dir_all(&dir).unwrap();
        let err = resolve(None, None, Path::new("/nonexistent"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("AFFINITY_API_KEY"), "{err}");
    }
}
