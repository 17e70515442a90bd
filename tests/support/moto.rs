//! moto server (S3, SQS, Secrets Manager) from the test venv, as a real local AWS.

use super::python;
use aws_sdk_sqs::types::{Message, QueueAttributeName};
use std::path::Path;
use std::process::{Child, Command, Stdio};

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
    let port = super::free_port();
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
    super::wait_for_port(port, "moto server");
    Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

/// Creates `bucket` in moto's S3.
pub async fn create_bucket(moto: &Moto, bucket: &str) {
    let created = reqwest::Client::new()
        .put(format!("{}/{bucket}", moto.url))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "create bucket: {created:?}");
}

/// Runs a boto3 script (an independent S3 client) against moto's S3; its lines of output.
/// The script gets `s3` (a client) and `bucket`, and `sys.argv[1:]` = `args`.
fn boto3(moto: &Moto, bucket: &str, script: &str, args: &[&str]) -> Vec<String> {
    let script = format!(
        r#"
import sys, os, boto3
bucket = {bucket:?}
s3 = boto3.client("s3", endpoint_url={url:?}, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
{script}"#,
        url = moto.url
    );
    super::python_lines(&script, args)
}

/// Copies every object of the bucket into `dir` with boto3, and returns the keys.
pub fn download(moto: &Moto, bucket: &str, dir: &Path) -> Vec<String> {
    let script = r#"
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
    for o in page.get("Contents", []):
        path = os.path.join(sys.argv[1], o["Key"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        s3.download_file(bucket, o["Key"], path)
        print(o["Key"])
"#;
    boto3(moto, bucket, script, &[&dir.display().to_string()])
}

/// The server-side encryption S3 reports for every object of the bucket (HEAD, by boto3):
/// `AES256`, `aws:kms <key id>`, or `none`, by key.
pub fn encryption_of(moto: &Moto, bucket: &str) -> std::collections::BTreeMap<String, String> {
    let script = r#"
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
    for o in page.get("Contents", []):
        h = s3.head_object(Bucket=bucket, Key=o["Key"])
        sse = " ".join(filter(None, [h.get("ServerSideEncryption"), h.get("SSEKMSKeyId")]))
        print(o["Key"] + "\t" + (sse or "none"))
"#;
    boto3(moto, bucket, script, &[])
        .iter()
        .map(|l| {
            let (key, sse) = l.split_once('\t').unwrap();
            (key.to_string(), sse.to_string())
        })
        .collect()
}

/// moto with what a queued deployment needs: a bucket, the job queue and its dead-letter
/// queue, and SDK clients for the test's own look at them.
pub struct Aws {
    pub moto: Moto,
    pub config: aws_config::SdkConfig,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub dead_letter_url: String,
}

/// Starts moto and creates `bucket`, `affinity-jobs` and `affinity-dead` (60 s visibility),
/// with the access key `testing` and the secret key `aws_secret`.
pub async fn local_aws(bucket: &str, aws_secret: &str) -> Aws {
    let moto = start_moto();
    let creds = aws_sdk_sqs::config::Credentials::new("testing", aws_secret, None, None, "test");
    let config = affinity_sync_io::s3::aws_config_loader()
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(&moto.url)
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue = |name: &'static str| {
        let sqs = sqs.clone();
        async move {
            sqs.create_queue()
                .queue_name(name)
                .attributes(QueueAttributeName::VisibilityTimeout, "60")
                .send()
                .await
                .unwrap()
                .queue_url()
                .unwrap()
                .to_string()
        }
    };
    let (queue_url, dead_letter_url) = (queue("affinity-jobs").await, queue("affinity-dead").await);
    Aws {
        moto,
        config,
        sqs,
        queue_url,
        dead_letter_url,
    }
}

/// The one-line error every home prints for a queue that does not exist: what was being
/// done, SQS's code (its query protocol's or its JSON protocol's: either may come), what it
/// means, and the setting to correct.
pub fn missing_queue_lines(doing: &str, setting: &str) -> Vec<String> {
    [
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
    ]
    .iter()
    .map(|code| format!("{doing}: {code}: the queue does not exist; check {setting}"))
    .collect()
}

impl Aws {
    /// No message visible, in flight or delayed on the job queue.
    pub async fn queue_is_empty(&self) -> bool {
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .unwrap();
        let count = |name: QueueAttributeName| {
            attrs
                .attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        count(QueueAttributeName::ApproximateNumberOfMessages)
            + count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            + count(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            == 0
    }

    /// Everything on the dead-letter queue (hidden for a minute once read).
    pub async fn dead_letters(&self) -> Vec<Message> {
        let mut out = vec![];
        loop {
            let got = self
                .sqs
                .receive_message()
                .queue_url(&self.dead_letter_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .visibility_timeout(60)
                .message_attribute_names("All")
                .send()
                .await
                .unwrap();
            if got.messages().is_empty() {
                return out;
            }
            out.extend(got.messages().iter().cloned());
        }
    }
}
