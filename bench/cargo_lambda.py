"""The Lambda function under a Runtime API the project did not write (issue 28).

`cargo lambda watch --only-lambda-apis` (cargo-lambda, from PyPI) serves the Lambda Runtime
API; the function's real binary polls it; this script plays the SQS event source mapping,
handing each queued job to the function as an SQS event with `cargo lambda invoke
--data-file`, deleting what it acknowledged, until the queue is empty. moto serves S3, SQS
and Secrets Manager; the project's test double serves Affinity. At the end, `affinity-sync
status` must call the bucket's sync complete and its per-stream records must equal those of
the CLI's own sync of the same double; `load duckdb` of both must hold the same rows.

Run by bench/cargo_lambda.sh, which starts the processes and passes their addresses.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import boto3
import duckdb

moto, double, runtime_port, function_bin, cli_bin, out_md = sys.argv[1:7]
env_aws = dict(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_REGION="us-east-1",
    AWS_EC2_METADATA_DISABLED="true",
)
os.environ.update(env_aws)
session = dict(endpoint_url=moto, region_name="us-east-1")
s3 = boto3.client("s3", **session)
sqs = boto3.client("sqs", **session)
secrets = boto3.client("secretsmanager", **session)

bucket = "affinity-cargo-lambda"
s3.create_bucket(Bucket=bucket)
dead = sqs.create_queue(QueueName="affinity-dead")["QueueUrl"]
jobs = sqs.create_queue(QueueName="affinity-jobs", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
jobs_arn = sqs.get_queue_attributes(QueueUrl=jobs, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
secret = secrets.create_secret(
    Name="affinity-sync",
    SecretString=json.dumps({"api_key": "test-key", "job_secret": "job-secret-0123456789-abcdef"}),
)["ARN"]

work = tempfile.mkdtemp()
function_log = open(os.path.join(work, "function.log"), "w")
function = subprocess.Popen(
    [function_bin],
    env=dict(
        PATH=os.environ["PATH"],
        AWS_LAMBDA_RUNTIME_API=f"http://127.0.0.1:{runtime_port}/.rt",
        AWS_LAMBDA_FUNCTION_NAME="_",
        AWS_LAMBDA_FUNCTION_VERSION="1",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256",
        AWS_ENDPOINT_URL=moto,
        AWS_ENDPOINT_URL_S3=moto,
        AFFINITY_SYNC_BUCKET=bucket,
        AFFINITY_SYNC_PREFIX="affinity",
        AFFINITY_SYNC_QUEUE_URL=jobs,
        AFFINITY_SYNC_DEAD_LETTER_URL=dead,
        AFFINITY_SYNC_SECRET_ARN=secret,
        AFFINITY_BASE_URL=double,
        **env_aws,
    ),
    stdout=function_log,
    stderr=subprocess.STDOUT,
)


def invoke(event):
    """One invocation through cargo-lambda's Runtime API: the function's answer."""
    path = os.path.join(work, "event.json")
    with open(path, "w") as f:
        json.dump(event, f)
    r = subprocess.run(
        ["cargo", "lambda", "invoke", "_", "-A", "127.0.0.1", "-P", runtime_port,
         "--data-file", path, "-o", "json"],
        capture_output=True, text=True, timeout=180,
    )
    if r.returncode != 0:
        sys.exit(f"cargo lambda invoke failed: {r.stderr}\n{open(function_log.name).read()[-3000:]}")
    return json.loads(r.stdout)


began = time.time()
started = invoke({"action": "start"})
assert started["result"] == "started", started
sync_id = started["sync_id"]

invocations = 1
idle = 0
while idle < 3:
    got = sqs.receive_message(
        QueueUrl=jobs, MaxNumberOfMessages=1, WaitTimeSeconds=1,
        MessageAttributeNames=["All"], AttributeNames=["All"],
    ).get("Messages", [])
    if not got:
        # Delayed messages (none in this run) would show later: wait for three empty polls.
        idle += 1
        continue
    idle = 0
    m = got[0]
    record = {
        "messageId": m["MessageId"],
        "receiptHandle": m["ReceiptHandle"],
        "body": m["Body"],
        "attributes": m.get("Attributes", {}),
        "messageAttributes": {
            k: {"stringValue": v.get("StringValue"), "dataType": v["DataType"],
                "stringListValues": [], "binaryListValues": []}
            for k, v in m.get("MessageAttributes", {}).items()
        },
        "md5OfBody": m["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": jobs_arn,
        "awsRegion": "us-east-1",
    }
    answer = invoke({"Records": [record]})
    invocations += 1
    failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
    if m["MessageId"] not in failed:
        sqs.delete_message(QueueUrl=jobs, ReceiptHandle=m["ReceiptHandle"])
elapsed = time.time() - began
function.terminate()

# The bucket's sync, as `status` reads it, against the CLI's own sync of the same double.
aws = dict(os.environ, AWS_ENDPOINT_URL_S3=moto)
status = json.loads(subprocess.run(
    [cli_bin, "status", "--json", "--out", f"s3://{bucket}/affinity", sync_id],
    capture_output=True, text=True, env=aws, check=True).stdout)
sync = status["syncs"][0]
assert sync["state"] == "complete", sync
local = os.path.join(work, "cli")
subprocess.run([cli_bin, "sync", "--base-url", double, "--out", local, "--quiet"],
               env=dict(aws, AFFINITY_API_KEY="test-key"), check=True, capture_output=True)
cli_manifest = json.load(open(os.path.join(
    local, "_manifests", os.listdir(os.path.join(local, "_manifests"))[0], "sync.json")))
want = {s["stream"]: s["records"] for s in cli_manifest["streams"]}
got = {s["stream"]: s["records"] for s in sync["streams"]}
assert got == want, (got, want)

lambda_db, cli_db = os.path.join(work, "lambda.duckdb"), os.path.join(work, "cli.duckdb")
subprocess.run([cli_bin, "load", "duckdb", "--from", f"s3://{bucket}/affinity", "--db", lambda_db],
               env=aws, check=True, capture_output=True)
subprocess.run([cli_bin, "load", "duckdb", "--from", local, "--db", cli_db],
               env=aws, check=True, capture_output=True)
con = duckdb.connect()
con.execute(f"ATTACH '{lambda_db}' AS l (READ_ONLY); ATTACH '{cli_db}' AS c (READ_ONLY)")
tables = [t for s in cli_manifest["streams"] for t in s["tables"]]
rows = 0
for t in tables:
    cols = ", ".join(f'"{c[0]}"' for c in con.execute(f"DESCRIBE c.{t}").fetchall() if c[0] != "_sync_id")
    diff = con.execute(
        f"SELECT count(*) FROM ((SELECT {cols} FROM l.{t} EXCEPT ALL SELECT {cols} FROM c.{t}) "
        f"UNION ALL (SELECT {cols} FROM c.{t} EXCEPT ALL SELECT {cols} FROM l.{t}))").fetchone()[0]
    assert diff == 0, f"{t}: {diff} rows differ"
    rows += con.execute(f"SELECT count(*) FROM l.{t}").fetchone()[0]

pages = sync["pages"]["done"]
with open(out_md, "w") as f:
    f.write("# The Lambda function under cargo-lambda's Runtime API\n\n")
    f.write(f"`bench/cargo_lambda.sh` at {subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()} "
            f"on {time.strftime('%Y-%m-%d', time.gmtime())}: `cargo lambda watch --only-lambda-apis` "
            f"(cargo-lambda {subprocess.run(['cargo', 'lambda', '--version'], capture_output=True, text=True).stdout.split()[1]}, "
            "from PyPI) served the Lambda Runtime API, the function's debug build polled it, and each job went to it "
            "as an SQS event through `cargo lambda invoke --data-file`; moto for S3, SQS and Secrets Manager; "
            "the test double's small data set as Affinity.\n\n")
    f.write("| invocations | pages | records | tables compared | rows compared | rows differing from the CLI's sync | wall s |\n")
    f.write("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
    f.write(f"| {invocations} | {pages} | {sync['records']} | {len(tables)} | {rows} | 0 | {elapsed:.0f} |\n\n")
    f.write("The sync `status` reads in the bucket is complete; its records per stream equal the CLI's sync "
            "of the same double, and `load duckdb --from s3://` of the bucket holds the same rows, table by table, "
            "as a load of the CLI's sync.\n")
print(open(out_md).read())
