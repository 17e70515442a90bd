//! moto server (S3, SQS, Secrets Manager) from the test venv, as a real local AWS.

use super::python;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// moto's S3 on a free loopback port, stopped on drop.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

pub fn start_moto() -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(python())
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto server (pip install moto[server]: scripts/test.sh does)");
    let began = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "moto server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

/// Copies every object of the bucket into `dir` with boto3 (an independent S3 client), and
/// returns the keys.
pub fn download(moto: &Moto, bucket: &str, dir: &Path) -> Vec<String> {
    let script = r#"
import sys, os, boto3
url, bucket, out = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
    for o in page.get("Contents", []):
        path = os.path.join(out, o["Key"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        s3.download_file(bucket, o["Key"], path)
        print(o["Key"])
"#;
    let out = Command::new(python())
        .args(["-c", script, &moto.url, bucket, &dir.display().to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}
