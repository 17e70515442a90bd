//! Azure Blob Storage as an [`ObjectSink`]: `az://container/prefix`, through Apache Arrow's
//! `object_store` (its Azure backend: shared key, SAS, service principal, managed identity
//! or Azure CLI credentials, retries, the Azurite emulator).
//!
//! The store is the same as on S3: one blob per key under the prefix, same names and layout.
//! A blob is written by one Put Blob call, so a reader sees the whole object or none of it.
//! Azure encrypts every blob at rest with the key the account or container is set to
//! (Microsoft-managed, or a customer-managed key of a default encryption scope); an
//! encryption scope named by the user ([`AzureSink::open`]'s `scope`) overrides that on every
//! blob this sink writes.

use crate::sink::{Listed, ObjectSink};
use anyhow::{Result, anyhow, bail};
use futures_util::TryStreamExt;
use object_store::azure::{
    AzureAccessKey, AzureAuthorizer, AzureConfigKey, AzureCredential, MicrosoftAzure,
    MicrosoftAzureBuilder,
};
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpRequest, HttpResponse, HttpService, ReqwestConnector,
};
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutPayload};
use std::sync::Arc;

/// The blobs under one prefix of one container.
pub struct AzureSink {
    store: Arc<MicrosoftAzure>,
    container: String,
    account: String,
    /// Empty, or the prefix with a trailing `/`.
    prefix: String,
    /// The encryption scope every write asks for, if one was named.
    scope: Option<String>,
}

/// The container and prefix of `az://container/prefix` (no trailing `/`; may be empty).
pub fn parse_url(url: &str) -> Result<(String, String)> {
    let rest = url
        .strip_prefix("az://")
        .ok_or_else(|| anyhow!("{url} is not an Azure location: write az://container/prefix"))?;
    let (container, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    // Azure's rule for container names: 3 to 63 of a-z, 0-9 and single hyphens inside.
    let valid = (3..=63).contains(&container.len())
        && container
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !container.starts_with('-')
        && !container.ends_with('-')
        && !container.contains("--");
    if !valid {
        bail!(
            "{url}: {container:?} is not an Azure container name (3 to 63 lower-case letters, digits and single hyphens): write az://container/prefix"
        );
    }
    let prefix = prefix.trim_matches('/');
    if !prefix.is_empty() {
        Path::parse(prefix).map_err(|e| anyhow!("{url}: the prefix is not a blob path: {e}"))?;
    }
    Ok((container.to_string(), prefix.to_string()))
}

impl AzureSink {
    /// The container and prefix of `url`, with the account and credentials of the
    /// environment, checked by listing the prefix; `setting` names the flag in errors.
    ///
    /// The account is `AZURE_STORAGE_ACCOUNT` (as the Azure CLI names it) or
    /// `AZURE_STORAGE_ACCOUNT_NAME`; the key `AZURE_STORAGE_KEY` or
    /// `AZURE_STORAGE_ACCOUNT_KEY`, or a SAS in `AZURE_STORAGE_SAS_TOKEN`, or a service
    /// principal (`AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`, `AZURE_TENANT_ID`), or the Azure
    /// CLI's login with `AZURE_USE_AZURE_CLI=true`; with none of them, the managed identity
    /// of the machine. `AZURE_STORAGE_USE_EMULATOR=true` talks to Azurite
    /// (`AZURITE_BLOB_STORAGE_URL`, default `http://127.0.0.1:10000`).
    ///
    /// `scope` names an encryption scope of the account (one backed by a customer-managed
    /// key in Key Vault): every blob written is encrypted with it ([`EncryptionScope`]).
    pub async fn open(url: &str, setting: &str, scope: Option<&str>) -> Result<AzureSink> {
        let (container, prefix) = parse_url(url)?;
        if let Some(scope) = scope {
            check_scope_name(scope)?;
        }
        let mut builder = MicrosoftAzureBuilder::from_env().with_container_name(&container);
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let Some(account) = env("AZURE_STORAGE_ACCOUNT") {
            builder = builder.with_account(account);
        }
        if let Some(key) = env("AZURE_STORAGE_KEY") {
            builder = builder.with_access_key(key);
        }
        let emulator = env("AZURE_STORAGE_USE_EMULATOR").is_some_and(|v| v == "true" || v == "1");
        let account = env("AZURE_STORAGE_ACCOUNT")
            .or_else(|| env("AZURE_STORAGE_ACCOUNT_NAME"))
            .or_else(|| emulator.then(|| "devstoreaccount1".to_string()));
        let Some(account) = account else {
            bail!(
                "{setting} {url}: no Azure storage account: set AZURE_STORAGE_ACCOUNT to the account's name"
            );
        };
        if let Some(scope) = scope {
            // The key a shared-key request is signed with, as object_store picks it: the
            // configured one, else the emulator's published development key.
            let signing_key = match builder.get_config_value(&AzureConfigKey::AccessKey) {
                Some(key) => Some(key),
                None => emulator.then(|| AZURITE_KEY.to_string()),
            }
            .map(|key| AzureAccessKey::try_new(&key))
            .transpose()
            .map_err(|e| anyhow!("{setting} {url}: the storage account key: {e}"))?;
            builder = builder.with_http_connector(EncryptionScope {
                scope: http::HeaderValue::from_str(scope)?,
                signing_key: signing_key.map(|key| Arc::new(AzureCredential::AccessKey(key))),
                account: account.clone(),
            });
        }
        let store = builder
            .build()
            .map_err(|e| anyhow!("{setting} {url}: {e}"))?;
        let sink = AzureSink {
            store: Arc::new(store),
            container,
            account,
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            scope: scope.map(str::to_string),
        };
        // One listing request: the container exists and the credentials may read it.
        let probe = Path::parse(&sink.prefix).unwrap_or_default();
        sink.store
            .list_with_delimiter(Some(&probe))
            .await
            .map_err(|e| sink.error(&format!("opening {url}"), e, Some(setting)))?;
        Ok(sink)
    }

    fn path(&self, key: &str) -> Result<Path> {
        let full = format!("{}{key}", self.prefix);
        Path::parse(&full).map_err(|e| anyhow!("{full} is not a blob path: {e}"))
    }

    fn url(&self, key: &str) -> String {
        format!("az://{}/{}{key}", self.container, self.prefix)
    }

    /// `e` as one line: what was being done, what Azure said, what to do about it.
    fn error(&self, doing: &str, e: object_store::Error, setting: Option<&str>) -> anyhow::Error {
        let text = e.to_string();
        let flag = setting.map(|s| format!(" ({s})")).unwrap_or_default();
        if text.contains("ContainerNotFound") {
            return anyhow!(
                "{doing}: the container {} does not exist in the storage account {}{flag}: create it (az storage container create --name {}) or name another",
                self.container,
                self.account,
                self.container
            );
        }
        // Azure's codes for a scope the account lacks or has disabled (EncryptionScopeNotFound,
        // EncryptionScopeDisabled…); checked before the 403 they may come with.
        if let (Some(scope), true) = (&self.scope, text.contains("EncryptionScope")) {
            return anyhow!(
                "{doing}: Azure refused the encryption scope {scope} ({}): name an enabled scope of the storage account {} (az storage account encryption-scope list --account-name {})",
                crate::first_line(&text),
                self.account,
                self.account
            );
        }
        if text.contains("AuthenticationFailed")
            || text.contains("AuthorizationFailure")
            || text.contains("403 Forbidden")
        {
            return anyhow!(
                "{doing}: Azure refused the credentials for the storage account {}: check AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN or the identity's role on the container",
                self.account
            );
        }
        // object_store's messages carry the request and Azure's answer, never a key.
        anyhow!("{doing}: {}", crate::first_line(&text))
    }
}

/// Azurite's development account key, public in Microsoft's documentation; object_store signs
/// with it when the emulator is used without a key.
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Azure's rule for encryption scope names: 3 to 63 letters and digits.
fn check_scope_name(scope: &str) -> Result<()> {
    let valid = (3..=63).contains(&scope.len()) && scope.chars().all(|c| c.is_ascii_alphanumeric());
    if !valid {
        bail!(
            "--azure-encryption-scope {scope:?}: an encryption scope's name is 3 to 63 letters and digits: name one of the storage account's scopes (az storage account encryption-scope list)"
        );
    }
    Ok(())
}

/// The requests object_store sends, with `x-ms-encryption-scope` added to each write of blob
/// content (Put Blob, Put Block, Put Block List), so Azure encrypts the blob with the scope's
/// key.
///
/// object_store has no setting for it, and a header added after its shared-key signature
/// would invalidate the signature (every `x-ms-` header is signed). So a request signed with
/// the account key is signed again after the header is added, by object_store's own
/// [`AzureAuthorizer`]. SAS and Entra ID (bearer) requests do not sign headers.
#[derive(Debug)]
struct EncryptionScope {
    scope: http::HeaderValue,
    /// The account key, when the store is reached with one.
    signing_key: Option<Arc<AzureCredential>>,
    account: String,
}

impl HttpConnector for EncryptionScope {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        Ok(HttpClient::new(ScopedClient {
            inner: ReqwestConnector::default().connect(options)?,
            scope: self.scope.clone(),
            signing_key: self.signing_key.clone(),
            account: self.account.clone(),
        }))
    }
}

#[derive(Debug)]
struct ScopedClient {
    inner: HttpClient,
    scope: http::HeaderValue,
    signing_key: Option<Arc<AzureCredential>>,
    account: String,
}

/// Whether `request` writes blob content: a PUT to a blob with no `comp`, or with
/// `comp=block` or `comp=blocklist` (not a container, tags or metadata request).
fn writes_content(request: &HttpRequest) -> bool {
    if request.method() != http::Method::PUT {
        return false;
    }
    let query = request.uri().query().unwrap_or("");
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
    };
    param("restype").is_none() && matches!(param("comp"), None | Some("block" | "blocklist"))
}

#[async_trait::async_trait]
impl HttpService for ScopedClient {
    async fn call(&self, mut request: HttpRequest) -> Result<HttpResponse, HttpError> {
        if writes_content(&request) {
            let headers = request.headers_mut();
            headers.insert("x-ms-encryption-scope", self.scope.clone());
            let shared_key = headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("SharedKey "));
            if let (true, Some(key)) = (shared_key, &self.signing_key) {
                headers.remove(http::header::AUTHORIZATION);
                AzureAuthorizer::new(key, &self.account).authorize(&mut request);
            }
        }
        self.inner.execute(request).await
    }
}

impl ObjectSink for AzureSink {
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let path = self.path(key)?;
        self.store
            .put(&path, PutPayload::from(bytes.to_vec()))
            .await
            .map_err(|e| self.error(&format!("writing {}", self.url(key)), e, None))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(key)?;
        let doing = || format!("reading {}", self.url(key));
        match self.store.get(&path).await {
            Ok(found) => Ok(Some(
                found
                    .bytes()
                    .await
                    .map_err(|e| self.error(&doing(), e, None))?
                    .to_vec(),
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(&doing(), e, None)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        crate::sink::keys_under(self, prefix).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(&format!("deleting {}", self.url(key)), e, None)),
        }
    }

    async fn list_after(&self, prefix: &str, start_after: Option<&str>) -> Result<Vec<Listed>> {
        let folder = self.path(prefix.trim_end_matches('/'))?;
        let doing = || format!("listing {}", self.url(prefix));
        let listed: Vec<_> = match start_after {
            Some(after) => {
                let offset = self.path(after)?;
                self.store
                    .list_with_offset(Some(&folder), &offset)
                    .try_collect()
                    .await
            }
            None => self.store.list(Some(&folder)).try_collect().await,
        }
        .map_err(|e| self.error(&doing(), e, None))?;
        let mut keys: Vec<Listed> = listed
            .into_iter()
            .filter_map(|meta| {
                let key = meta
                    .location
                    .as_ref()
                    .strip_prefix(&self.prefix)?
                    .to_string();
                let after = start_after.is_none_or(|a| key.as_str() > a);
                after.then(|| Listed {
                    key,
                    modified: Some(meta.last_modified.timestamp()),
                })
            })
            .collect();
        keys.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink on a made-up account, built offline (no request is made).
    fn offline_sink(scope: Option<&str>) -> AzureSink {
        let store = MicrosoftAzureBuilder::new()
            .with_account("acct")
            .with_container_name("data")
            .with_access_key(AZURITE_KEY)
            .build()
            .unwrap();
        AzureSink {
            store: Arc::new(store),
            container: "data".into(),
            account: "acct".into(),
            prefix: String::new(),
            scope: scope.map(str::to_string),
        }
    }

    fn refusal(code: &str) -> object_store::Error {
        object_store::Error::Generic {
            store: "MicrosoftAzure",
            source: format!("Error performing PUT: Server returned non-2xx status code: 409 Conflict: <Code>{code}</Code>").into(),
        }
    }

    #[test]
    fn a_refused_scope_is_named_with_what_to_do() {
        let sink = offline_sink(Some("cmk1"));
        let e = sink
            .error(
                "writing az://data/x",
                refusal("EncryptionScopeNotFound"),
                None,
            )
            .to_string();
        assert!(
            e.starts_with("writing az://data/x: Azure refused the encryption scope cmk1 (")
                && e.contains("EncryptionScopeNotFound")
                && e.ends_with("name an enabled scope of the storage account acct (az storage account encryption-scope list --account-name acct)"),
            "{e}"
        );
        // Without a scope named, the same answer is passed on as Azure gave it.
        let e = offline_sink(None)
            .error(
                "writing az://data/x",
                refusal("EncryptionScopeNotFound"),
                None,
            )
            .to_string();
        assert!(!e.contains("Azure refused the encryption scope"), "{e}");
    }

    #[test]
    fn scope_names_follow_azures_rule() {
        for good in ["cmk", "affinityCmk01", &"a".repeat(63)] {
            check_scope_name(good).unwrap();
        }
        for bad in [
            "ab",
            "with space",
            "dash-ed",
            "under_score",
            &"a".repeat(64),
        ] {
            let e = check_scope_name(bad).unwrap_err().to_string();
            assert!(e.contains("3 to 63 letters and digits"), "{bad}: {e}");
        }
    }

    fn request(method: http::Method, uri: &str) -> HttpRequest {
        http::Request::builder()
            .method(method)
            .uri(uri)
            .body(Vec::new().into())
            .unwrap()
    }

    #[test]
    fn only_writes_of_blob_content_carry_the_scope() {
        let base = "https://acct.blob.core.windows.net/data/x/part.parquet";
        for (method, query, writes) in [
            (http::Method::PUT, "", true),
            (http::Method::PUT, "?comp=block&blockid=AAA", true),
            (http::Method::PUT, "?comp=blocklist", true),
            (http::Method::PUT, "?comp=tags", false),
            (http::Method::PUT, "?restype=container", false),
            (http::Method::GET, "", false),
            (http::Method::DELETE, "", false),
        ] {
            let r = request(method.clone(), &format!("{base}{query}"));
            assert_eq!(writes_content(&r), writes, "{method} {query}");
        }
    }

    #[test]
    fn a_location_is_a_container_and_a_prefix() {
        let parsed = |u: &str| parse_url(u).unwrap();
        assert_eq!(
            parsed("az://affinity-data/crm/prod/"),
            ("affinity-data".into(), "crm/prod".into())
        );
        assert_eq!(parsed("az://abc"), ("abc".into(), String::new()));
        assert_eq!(parsed("az://a1b/"), ("a1b".into(), String::new()));
    }

    #[test]
    fn names_azure_refuses_are_refused_with_the_rule() {
        for bad in [
            "az://ab/x",
            "az://Upper/x",
            "az://-lead/x",
            "az://trail-/x",
            "az://dou--ble/x",
            "az://under_score",
        ] {
            let e = parse_url(bad).unwrap_err().to_string();
            assert!(e.contains("is not an Azure container name"), "{bad}: {e}");
        }
        let e = parse_url("s3://bucket/x").unwrap_err().to_string();
        assert!(e.contains("write az://container/prefix"), "{e}");
    }
}
