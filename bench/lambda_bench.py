"""Drives the Lambda bootstrap as AWS would and measures it (run by bench/lambda.sh).

The bootstrap binary polls a Lambda Runtime API served here; moto serves S3, SQS and Secrets
Manager; the Affinity test double (`affinity-sync mock`) serves the data. A sync is started
with {"action": "start"} and its messages are handed over one per invocation (the template's
BatchSize) until the queue is empty. Reported: cold init (process start to its first poll of
/invocation/next: ready for the first event), invocation times, and the process's peak RSS
(VmHWM) over the whole sync: an upper bound of any one invocation's peak.
"""

import json
import os
import queue
import socket
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3

bootstrap, base_url, moto_url = sys.argv[1], sys.argv[2], sys.argv[3]
BUCKET, API_KEY = "affinity-bench", "test-key"

events: "queue.Queue[tuple[str, dict]]" = queue.Queue()
answers: dict = {}
answered = threading.Condition()
first_poll = threading.Event()
first_poll_at = [0.0]


class RuntimeApi(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if not first_poll.is_set():
            first_poll_at[0] = time.perf_counter()
            first_poll.set()
        rid, event = events.get()
        body = json.dumps(event).encode()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", rid)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 150_000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                         "arn:aws:lambda:us-east-1:123456789012:function:affinity-sync")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        parts = self.path.split("/")
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if "invocation" in parts:
            rid, kind = parts[-2], parts[-1]
            with answered:
                answers[rid] = (kind, json.loads(body or b"null"))
                answered.notify_all()
        else:
            print("init error:", body.decode(), file=sys.stderr)
            os._exit(1)


server = ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
threading.Thread(target=server.serve_forever, daemon=True).start()
counter = [0]


def invoke(event):
    counter[0] += 1
    rid = f"req-{counter[0]}"
    began = time.perf_counter()
    events.put((rid, event))
    with answered:
        answered.wait_for(lambda: rid in answers, timeout=300)
    kind, value = answers.pop(rid)
    if kind != "response":
        raise SystemExit(f"invocation failed: {value}")
    return value, time.perf_counter() - began


session = dict(endpoint_url=moto_url, region_name="us-east-1",
               aws_access_key_id="testing", aws_secret_access_key="testing")
s3, sqs, sm = (boto3.client(n, **session) for n in ("s3", "sqs", "secretsmanager"))
s3.create_bucket(Bucket=BUCKET)
q = sqs.create_queue(QueueName="jobs", Attributes={"VisibilityTimeout": "900"})["QueueUrl"]
dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
arn = sm.create_secret(Name="affinity-sync", SecretString=json.dumps(
    {"api_key": API_KEY, "job_secret": "bench-job-secret-0123456789"}))["ARN"]

env = {
    "PATH": os.environ.get("PATH", ""),
    "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
    "AWS_LAMBDA_FUNCTION_NAME": "affinity-sync",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ENDPOINT_URL": moto_url,
    "AWS_ENDPOINT_URL_S3": moto_url,
    "AFFINITY_SYNC_BUCKET": BUCKET,
    "AFFINITY_SYNC_QUEUE_URL": q,
    "AFFINITY_SYNC_DEAD_LETTER_URL": dlq,
    "AFFINITY_SYNC_SECRET_ARN": arn,
    "AFFINITY_BASE_URL": base_url,
    "AFFINITY_SYNC_FORMAT": os.environ.get("FORMAT", "parquet"),
    "AFFINITY_SYNC_LOG": "warn",
}
spawned = time.perf_counter()
proc = subprocess.Popen([bootstrap], env=env)
if not first_poll.wait(60):
    raise SystemExit("the bootstrap never polled for an event")
init_ms = (first_poll_at[0] - spawned) * 1000

started, _ = invoke({"action": "start"})
times, pages = [], 0
while True:
    got = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=1, WaitTimeSeconds=1,
                              AttributeNames=["All"], MessageAttributeNames=["All"])
    msgs = got.get("Messages", [])
    if not msgs:
        a = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["All"])["Attributes"]
        if sum(int(a[k]) for k in ("ApproximateNumberOfMessages",
                                    "ApproximateNumberOfMessagesNotVisible",
                                    "ApproximateNumberOfMessagesDelayed")) == 0:
            break
        continue
    m = msgs[0]
    record = {
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes", {}), "md5OfBody": m["MD5OfBody"],
        "messageAttributes": {k: {"stringValue": v.get("StringValue"), "dataType": v["DataType"],
                                  "stringListValues": [], "binaryListValues": []}
                              for k, v in m.get("MessageAttributes", {}).items()},
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:jobs",
        "awsRegion": "us-east-1",
    }
    answer, took = invoke({"Records": [record]})
    if answer["batchItemFailures"]:
        raise SystemExit(f"a page failed: {answer}")
    sqs.delete_message(QueueUrl=q, ReceiptHandle=m["ReceiptHandle"])
    times.append(took)
    pages += 1

status = open(f"/proc/{proc.pid}/status").read()
kb = {l.split(":")[0]: int(l.split()[1]) for l in status.splitlines() if l.startswith("Vm")}
proc.kill()
keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        for o in p.get("Contents", [])]
complete = [k for k in keys if k.endswith("/sync.json")]
if not complete:
    raise SystemExit("the sync did not complete")
times.sort()
print(json.dumps({
    "sync_id": started["sync_id"],
    "init_ms": round(init_ms, 1),
    "pages": pages,
    "objects": len(keys),
    "invocation_ms_median": round(statistics.median(times) * 1000, 1),
    "invocation_ms_p95": round(times[int(len(times) * 0.95) - 1] * 1000, 1),
    "invocation_ms_max": round(times[-1] * 1000, 1),
    "peak_rss_mb": round(kb["VmHWM"] / 1024, 1),
}))
