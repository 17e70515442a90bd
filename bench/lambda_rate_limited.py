"""A sync through the Lambda home under Affinity's rate limit, with several invocations at
once, as Lambda's SQS event source runs them with `MaximumConcurrency` N (run by
bench/lambda_rate_limited.sh).

N bootstrap processes (the release build of the function), each behind its own Runtime API
(bench/lambda_harness.py), and N pollers: each receives one message at a time from the job
queue (moto's SQS, which keeps a message's DelaySeconds and a received message's visibility
timeout, in real time), invokes its function with it, and deletes it when the function
reports no failure, as the event source mapping does. The test double enforces the
per-minute limit and a concurrency cap. The sync starts with {"action": "start"}; it is done
when its sync.json is in the bucket.

usage: lambda_rate_limited.py BOOTSTRAP BASE_URL MOTO_URL CONCURRENCY
Prints one JSON object."""

import json
import sys
import threading
import time
import urllib.request

from lambda_harness import BUCKET, Runtime, aws, deployment, sqs_event, start_function

bootstrap, base_url, moto_url, concurrency = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
s3, sqs, _ = aws(moto_url)
q, env = deployment(moto_url)  # visibility 900 s, as the template's queue
runtimes = [Runtime() for _ in range(concurrency)]
procs = [start_function(bootstrap, r, env, base_url) for r in runtimes]

done = threading.Event()
lock = threading.Lock()
tally = {"received": 0, "deleted": 0, "failed": 0, "invocation_seconds": 0.0, "invocations": 0}


def poll(runtime):
    # Each poller has its own client: boto3 clients are thread-safe, but one per thread keeps
    # their connection pools apart.
    _, sqs_, _ = aws(moto_url)
    while not done.is_set():
        got = sqs_.receive_message(QueueUrl=q, MaxNumberOfMessages=1, WaitTimeSeconds=1,
                                   AttributeNames=["All"], MessageAttributeNames=["All"])
        for m in got.get("Messages", []):
            answer, took = runtime.invoke(sqs_event(m))
            with lock:
                tally["received"] += 1
                tally["invocations"] += 1
                tally["invocation_seconds"] += took
            if answer["batchItemFailures"]:
                with lock:
                    tally["failed"] += 1  # left for the visibility timeout, as Lambda does
                continue
            sqs_.delete_message(QueueUrl=q, ReceiptHandle=m["ReceiptHandle"])
            with lock:
                tally["deleted"] += 1


began = time.time()
started, took = runtimes[0].invoke({"action": "start"})
tally["invocation_seconds"] += took
tally["invocations"] += 1
sync_id = started["sync_id"]
threads = [threading.Thread(target=poll, args=(r,), daemon=True) for r in runtimes]
for t in threads:
    t.start()
key = f"_manifests/sync_id={sync_id}/sync.json"
while True:
    try:
        manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        break
    except s3.exceptions.NoSuchKey:
        time.sleep(0.5)
wall = time.time() - began
done.set()
for t in threads:
    t.join(timeout=10)
for p in procs:
    p.kill()

stats = json.load(urllib.request.urlopen(f"{base_url}/__stats"))
pages = sum(s["pages"] for s in manifest["streams"])
records = sum(s["records"] for s in manifest["streams"])
print(json.dumps({
    "sync_id": sync_id,
    "concurrency": concurrency,
    "wall_s": round(wall, 1),
    "requests": stats["requests"],
    "rate_limited": stats.get("rate_limited", 0),
    "pages": pages,
    "records": records,
    "retries": sum(s.get("retries", 0) for s in manifest["streams"]),
    "manifest_requests": sum(s.get("requests", 0) for s in manifest["streams"]),
    "messages_received": tally["received"],
    "messages_deleted": tally["deleted"],
    "invocations_failed": tally["failed"],
    "invocations": tally["invocations"],
    "invocation_seconds": round(tally["invocation_seconds"], 1),
}))
