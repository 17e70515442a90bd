"""What the Lambda benchmarks share: a Lambda Runtime API for one bootstrap process (the
loop AWS runs in front of a function), the function's environment on moto and the test
double, and an SQS message as Lambda's event source hands it over.

Used by bench/lambda_bench.py (one process, one page per invocation) and
bench/lambda_rate_limited.py (several processes polling the queue at once)."""

import json
import os
import queue
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3

BUCKET, API_KEY = "affinity-bench", "test-key"


class Runtime:
    """A Runtime API on loopback serving one function process: `invoke` hands it an event
    and waits for its answer."""

    def __init__(self):
        self.events = queue.Queue()
        self.answers = {}
        self.answered = threading.Condition()
        self.first_poll = threading.Event()
        self.first_poll_at = 0.0
        self.count = 0
        runtime = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if not runtime.first_poll.is_set():
                    runtime.first_poll_at = time.perf_counter()
                    runtime.first_poll.set()
                rid, event = runtime.events.get()
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
                    with runtime.answered:
                        runtime.answers[rid] = (kind, json.loads(body or b"null"))
                        runtime.answered.notify_all()
                else:
                    print("init error:", body.decode(), file=sys.stderr)
                    os._exit(1)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.address = f"127.0.0.1:{self.server.server_address[1]}"

    def invoke(self, event):
        """The function's answer to `event`, and the invocation's seconds."""
        self.count += 1
        rid = f"req-{self.count}"
        began = time.perf_counter()
        self.events.put((rid, event))
        with self.answered:
            self.answered.wait_for(lambda: rid in self.answers, timeout=300)
        kind, value = self.answers.pop(rid)
        if kind != "response":
            raise SystemExit(f"invocation failed: {value}")
        return value, time.perf_counter() - began


def aws(moto_url):
    """Clients of moto's S3, SQS and Secrets Manager."""
    session = dict(endpoint_url=moto_url, region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
    return tuple(boto3.client(n, **session) for n in ("s3", "sqs", "secretsmanager"))


def deployment(moto_url, visibility="900"):
    """The bucket, queues and secret the template would create: (queue url, environment)."""
    s3, sqs, sm = aws(moto_url)
    s3.create_bucket(Bucket=BUCKET)
    q = sqs.create_queue(QueueName="jobs", Attributes={"VisibilityTimeout": visibility})["QueueUrl"]
    dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
    arn = sm.create_secret(Name="affinity-sync", SecretString=json.dumps(
        {"api_key": API_KEY, "job_secret": "bench-job-secret-0123456789"}))["ARN"]
    env = {
        "PATH": os.environ.get("PATH", ""),
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
        "AFFINITY_SYNC_FORMAT": os.environ.get("FORMAT", "parquet"),
        "AFFINITY_SYNC_LOG": "warn",
    }
    return q, env


def start_function(bootstrap, runtime, env, base_url):
    """The bootstrap process on `runtime` (its metric lines, on stdout, dropped); returns it
    once it polled for its first event."""
    proc = subprocess.Popen([bootstrap], stdout=subprocess.DEVNULL, env={**env, "AWS_LAMBDA_RUNTIME_API": runtime.address,
                                              "AFFINITY_BASE_URL": base_url})
    if not runtime.first_poll.wait(60):
        raise SystemExit("the bootstrap never polled for an event")
    return proc


def sqs_event(m):
    """The SQS event Lambda's event source mapping makes of message `m` (a batch of one)."""
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes", {}), "md5OfBody": m["MD5OfBody"],
        "messageAttributes": {k: {"stringValue": v.get("StringValue"), "dataType": v["DataType"],
                                  "stringListValues": [], "binaryListValues": []}
                              for k, v in m.get("MessageAttributes", {}).items()},
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:jobs",
        "awsRegion": "us-east-1",
    }]}


def queue_empty(sqs, q):
    a = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["All"])["Attributes"]
    return sum(int(a[k]) for k in ("ApproximateNumberOfMessages",
                                   "ApproximateNumberOfMessagesNotVisible",
                                   "ApproximateNumberOfMessagesDelayed")) == 0
