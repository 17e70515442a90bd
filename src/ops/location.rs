//! Where a warehouse reads the store, in its own words. affinity-sync names stores
//! `s3://bucket/prefix`, `az://container/prefix` and `gs://bucket/prefix`; Snowflake reads
//! Azure as `azure://<account>.blob.core.windows.net/<container>/<prefix>` and Google Cloud
//! Storage as `gcs://bucket/prefix`, Databricks reads Azure as
//! `abfss://<container>@<account>.dfs.core.windows.net/<prefix>`, BigQuery Omni reads Azure
//! as `azure://…`, and Redshift reads S3 only. `ddl` writes each location as the dialect
//! reads it, and its set-up text for the cloud the store is in.

use super::ddl::Dialect;
use anyhow::{Result, bail};

/// The cloud a location is in, which decides the warehouse's one-time set-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    Aws,
    Azure,
    Google,
    /// A local path (DuckDB).
    Local,
}

/// The cloud of a location, as affinity-sync or a warehouse writes it.
pub fn cloud_of(location: &str) -> Cloud {
    let scheme = location.split_once("://").map(|(s, _)| s).unwrap_or("");
    match scheme {
        "s3" | "s3a" => Cloud::Aws,
        "az" | "azure" | "abfss" | "abfs" => Cloud::Azure,
        "gs" | "gcs" => Cloud::Google,
        _ => Cloud::Local,
    }
}

/// `location` as `dialect` reads it. An `az://` location needs the storage account
/// (`AZURE_STORAGE_ACCOUNT`, as for `sync`) for the warehouses that name it in the URL.
pub fn for_dialect(
    dialect: Dialect,
    location: &str,
    azure_account: Option<&str>,
) -> Result<String> {
    let location = location.trim_end_matches('/');
    let cloud = cloud_of(location);
    if dialect == Dialect::Redshift && !matches!(cloud, Cloud::Aws) {
        bail!(
            "--location {location}: Redshift copies from Amazon S3 only; sync to s3://bucket/prefix for Redshift"
        );
    }
    if let Some(rest) = location.strip_prefix("az://") {
        let (container, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let account = || -> Result<&str> {
            azure_account.ok_or_else(|| {
                anyhow::anyhow!(
                    "--location {location}: the warehouse names the storage account in the URL: set AZURE_STORAGE_ACCOUNT (as for sync), or write the location as the warehouse does"
                )
            })
        };
        let with_prefix = |base: String| {
            if prefix.is_empty() {
                base
            } else {
                format!("{base}/{prefix}")
            }
        };
        return Ok(match dialect {
            Dialect::Snowflake | Dialect::Bigquery => with_prefix(format!(
                "azure://{}.blob.core.windows.net/{container}",
                account()?
            )),
            Dialect::Databricks => with_prefix(format!(
                "abfss://{container}@{}.dfs.core.windows.net",
                account()?
            )),
            _ => location.to_string(),
        });
    }
    if let Some(rest) = location.strip_prefix("gs://")
        && dialect == Dialect::Snowflake
    {
        return Ok(format!("gcs://{rest}"));
    }
    Ok(location.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_warehouse_gets_the_location_in_its_own_words() {
        let az = "az://crm-data/affinity/prod/";
        let at = |d| for_dialect(d, az, Some("acme")).unwrap();
        assert_eq!(
            at(Dialect::Snowflake),
            "azure://acme.blob.core.windows.net/crm-data/affinity/prod"
        );
        assert_eq!(
            at(Dialect::Databricks),
            "abfss://crm-data@acme.dfs.core.windows.net/affinity/prod"
        );
        assert_eq!(
            at(Dialect::Bigquery),
            "azure://acme.blob.core.windows.net/crm-data/affinity/prod"
        );
        assert_eq!(at(Dialect::Duckdb), "az://crm-data/affinity/prod");
        let gs = |d| for_dialect(d, "gs://b/affinity", None).unwrap();
        assert_eq!(gs(Dialect::Snowflake), "gcs://b/affinity");
        assert_eq!(gs(Dialect::Databricks), "gs://b/affinity");
        assert_eq!(gs(Dialect::Bigquery), "gs://b/affinity");
        let s3 = |d| for_dialect(d, "s3://b/affinity", None).unwrap();
        assert_eq!(s3(Dialect::Snowflake), "s3://b/affinity");
        assert_eq!(s3(Dialect::Redshift), "s3://b/affinity");
        // Written as the warehouse writes it already: kept.
        let native = "abfss://c@acme.dfs.core.windows.net/p";
        assert_eq!(
            for_dialect(Dialect::Databricks, native, None).unwrap(),
            native
        );
    }

    #[test]
    fn what_a_warehouse_cannot_read_is_refused_with_what_to_do() {
        let e = for_dialect(Dialect::Redshift, "gs://b/p", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("Redshift copies from Amazon S3 only"), "{e}");
        let e = for_dialect(Dialect::Snowflake, "az://c/p", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("set AZURE_STORAGE_ACCOUNT"), "{e}");
    }

    #[test]
    fn the_cloud_is_known_from_either_spelling() {
        assert_eq!(cloud_of("azure://a.blob.core.windows.net/c"), Cloud::Azure);
        assert_eq!(cloud_of("az://c/p"), Cloud::Azure);
        assert_eq!(cloud_of("gcs://b"), Cloud::Google);
        assert_eq!(cloud_of("s3://b"), Cloud::Aws);
        assert_eq!(cloud_of("/data/affinity"), Cloud::Local);
    }
}
