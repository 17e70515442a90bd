//! Azurite (Microsoft's Azure Storage emulator, npm `azurite`, installed by scripts/test.sh)
//! as a real local Azure Blob Storage, and the Azure SDK for Python (test venv) as an
//! independent client of it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Azurite's well-known development account and key (public, in Microsoft's docs).
pub const ACCOUNT: &str = "devstoreaccount1";
pub const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Azurite's blob service on a free loopback port, its data in a temporary folder; stopped
/// on drop.
pub struct Azurite {
    child: Child,
    /// `http://127.0.0.1:<port>`: the account's blobs are under `/<account>`.
    pub url: String,
    /// Azurite's debug log: a line per request with its method, URL and headers.
    log: PathBuf,
}

impl Drop for Azurite {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// `azurite-blob`: `$AFFINITY_SYNC_AZURITE`, else where scripts/test.sh installs it.
fn azurite_blob() -> PathBuf {
    if let Some(p) = std::env::var_os("AFFINITY_SYNC_AZURITE") {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
    cache.join("affinity-sync/azurite/node_modules/.bin/azurite-blob")
}

pub fn start_azurite(data: &Path) -> Azurite {
    let port = super::free_port();
    let bin = azurite_blob();
    std::fs::create_dir_all(data).unwrap();
    let log = data.join("debug.log");
    let child = Command::new(&bin)
        .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
        .args(["--silent", "--skipApiVersionCheck", "--debug"])
        .arg(&log)
        .arg("--location")
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "start {} ({e}): scripts/test.sh installs Azurite from npm",
                bin.display()
            )
        });
    super::wait_for_port(port, "Azurite");
    Azurite {
        child,
        url: format!("http://127.0.0.1:{port}"),
        log,
    }
}

/// One request Azurite logged.
#[derive(Debug)]
pub struct Logged {
    pub method: String,
    /// The path and query, e.g. `/devstoreaccount1/<container>/<blob>?comp=block&…`.
    pub path: String,
    pub headers: serde_json::Map<String, serde_json::Value>,
}

impl Azurite {
    /// The environment that points affinity-sync (object_store) at this Azurite.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AZURE_STORAGE_USE_EMULATOR", "true".into()),
            ("AZURITE_BLOB_STORAGE_URL", self.url.clone()),
        ]
    }

    /// Runs a script with `container` (a ContainerClient of the Azure SDK for Python) and
    /// `sys.argv[1:]` = `args`; its lines of output.
    fn sdk(&self, container: &str, script: &str, args: &[&str]) -> Vec<String> {
        let script = format!(
            r#"
import sys, os
from azure.storage.blob import BlobServiceClient
service = BlobServiceClient.from_connection_string(
    "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
    "BlobEndpoint={url}/{ACCOUNT};")
container = service.get_container_client({container:?})
{script}"#,
            url = self.url
        );
        super::python_lines(&script, args)
    }

    /// The requests Azurite has received so far, in order.
    pub fn requests(&self) -> Vec<Logged> {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines()
            .filter_map(|line| {
                let (_, rest) = line.split_once("RequestMethod=")?;
                let (method, rest) = rest.split_once(" RequestURL=")?;
                let (url, rest) = rest.split_once(" RequestHeaders:")?;
                let (headers, _) = rest.rsplit_once(" ClientIP=")?;
                let path = url.splitn(4, '/').nth(3).unwrap_or("");
                Some(Logged {
                    method: method.to_string(),
                    path: format!("/{path}"),
                    headers: serde_json::from_str(headers).ok()?,
                })
            })
            .collect()
    }

    /// A SAS token for `container` (read, add, create, write, delete, list; an hour), made
    /// with the account key by the Azure SDK, as `az storage container generate-sas` would.
    pub fn container_sas(&self, container: &str) -> String {
        let script = format!(
            r#"
import datetime
from azure.storage.blob import generate_container_sas, ContainerSasPermissions
print(generate_container_sas({ACCOUNT:?}, {container:?}, account_key={KEY:?},
    permission=ContainerSasPermissions(read=True, add=True, create=True, write=True, delete=True, list=True),
    expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)))
"#
        );
        super::python_lines(&script, &[]).remove(0)
    }

    pub fn create_container(&self, container: &str) {
        self.sdk(container, "container.create_container()", &[]);
    }

    /// Copies every blob of the container into `dir`, and returns the names.
    pub fn download(&self, container: &str, dir: &Path) -> Vec<String> {
        let script = r#"
for blob in container.list_blobs():
    path = os.path.join(sys.argv[1], blob.name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(container.download_blob(blob.name).readall())
    print(blob.name)
"#;
        self.sdk(container, script, &[&dir.display().to_string()])
    }
}
