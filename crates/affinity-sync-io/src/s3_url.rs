//! `s3://bucket/prefix` URLs, checked the same way wherever a bucket is named: the CLI's
//! `--out`, the Lambda function's and the component's settings.

use anyhow::{Result, anyhow, bail};

/// `s3://bucket/some/prefix` → (`bucket`, `some/prefix/`).
pub fn parse_url(url: &str) -> Result<(String, String)> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| anyhow!("{url:?} is not an s3:// URL"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let valid_bucket = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !bucket.starts_with(['-', '.'])
        && !bucket.ends_with(['-', '.']);
    if !valid_bucket {
        bail!(
            "{url:?}: {bucket:?} is not a valid bucket name (3 to 63 characters: a-z 0-9 . -); \
             use s3://bucket/prefix"
        );
    }
    let prefix = prefix.trim_matches('/');
    if prefix
        .split('/')
        .any(|p| p == "." || p == ".." || (p.is_empty() && !prefix.is_empty()))
    {
        bail!("{url:?}: the prefix may not hold empty, `.` or `..` parts");
    }
    let prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    Ok((bucket.to_string(), prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_name_a_bucket_and_a_prefix() {
        assert_eq!(
            parse_url("s3://my-bucket/exports/affinity/").unwrap(),
            ("my-bucket".into(), "exports/affinity/".into())
        );
        assert_eq!(
            parse_url("s3://my.bucket").unwrap(),
            ("my.bucket".into(), String::new())
        );
        for bad in [
            "s3://",
            "s3://ab",
            "s3://Upper/x",
            "s3://b_u/x",
            "s3://bucket/a//b",
            "s3://bucket/../x",
            "gs://bucket/x",
        ] {
            assert!(parse_url(bad).is_err(), "{bad} must be refused");
        }
    }
}
