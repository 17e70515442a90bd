//! gcp-storage-emulator (PyPI, in the test venv) as a local Google Cloud Storage that speaks
//! the JSON API, and a plain-HTTP reader of it (Python's urllib) to check what was written.

use super::python;
use std::process::{Child, Command, Stdio};

/// The emulator on a free loopback port, in memory, with one bucket; stopped on drop.
pub struct GcsEmulator {
    child: Child,
    /// Where it logs each request line (method, path and query, status).
    log: std::path::PathBuf,
    /// `http://127.0.0.1:<port>`, what `STORAGE_EMULATOR_HOST` is set to.
    pub url: String,
}

impl Drop for GcsEmulator {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

pub fn start_gcs(bucket: &str, dir: &std::path::Path) -> GcsEmulator {
    let port = super::free_port();
    std::fs::create_dir_all(dir).unwrap();
    let log = dir.join("gcs-emulator.log");
    let bin = python().with_file_name("gcp-storage-emulator");
    let child = Command::new(&bin)
        .args(["start", "--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--in-memory", "--default-bucket", bucket])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "start {} ({e}): scripts/test.sh installs it into the test venv",
                bin.display()
            )
        });
    super::wait_for_port(port, "gcp-storage-emulator");
    GcsEmulator {
        child,
        log,
        url: format!("http://127.0.0.1:{port}"),
    }
}

impl GcsEmulator {
    /// The request lines the emulator has logged so far, e.g.
    /// `"POST /upload/storage/v1/b/<bucket>/o?uploadType=media&name=… HTTP/1.1" 200 -`.
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with('"'))
            .map(str::to_string)
            .collect()
    }

    /// Copies every object of `bucket` into `dir` through the JSON API, and returns the names.
    pub fn download(&self, bucket: &str, dir: &std::path::Path) -> Vec<String> {
        let script = r#"
import json, os, sys, urllib.parse, urllib.request
base, bucket, dest = sys.argv[1:4]
names, token = [], None
while True:
    query = {"prefix": ""} if token is None else {"prefix": "", "pageToken": token}
    with urllib.request.urlopen(f"{base}/storage/v1/b/{bucket}/o?" + urllib.parse.urlencode(query)) as r:
        page = json.load(r)
    names += [item["name"] for item in page.get("items", [])]
    token = page.get("nextPageToken")
    if not token:
        break
for name in sorted(names):
    url = f"{base}/storage/v1/b/{bucket}/o/{urllib.parse.quote(name, safe='')}?alt=media"
    path = os.path.join(dest, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with urllib.request.urlopen(url) as r, open(path, "wb") as f:
        f.write(r.read())
    print(name)
"#;
        super::python_lines(script, &[&self.url, bucket, &dir.display().to_string()])
    }
}
