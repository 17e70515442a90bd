"""Drives the Lambda bootstrap as AWS would and measures it (run by bench/lambda.sh).

The bootstrap binary polls a Lambda Runtime API served here; moto serves S3, SQS and Secrets
Manager; the Affinity test double (`affinity-sync mock`) serves the data. A sync is started
with {"action": "start"} and its messages are handed over one per invocation (the template's
BatchSize) until the queue is empty. Reported: cold init (process start to its first poll of
/invocation/next: ready for the first event), invocation times, and the process's peak RSS
(VmHWM) over the whole sync: an upper bound of any one invocation's peak.
"""

import json
import statistics
import sys
import time

from lambda_harness import BUCKET, Runtime, aws, deployment, queue_empty, sqs_event, start_function

bootstrap, base_url, moto_url = sys.argv[1], sys.argv[2], sys.argv[3]
s3, sqs, _ = aws(moto_url)
q, env = deployment(moto_url)
runtime = Runtime()
invoke = runtime.invoke
spawned = time.perf_counter()
proc = start_function(bootstrap, runtime, env, base_url)
init_ms = (runtime.first_poll_at - spawned) * 1000

started, _ = invoke({"action": "start"})
times, pages = [], 0
while True:
    got = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=1, WaitTimeSeconds=1,
                              AttributeNames=["All"], MessageAttributeNames=["All"])
    msgs = got.get("Messages", [])
    if not msgs:
        if queue_empty(sqs, q):
            break
        continue
    m = msgs[0]
    answer, took = invoke(sqs_event(m))
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
