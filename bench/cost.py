"""What a full sync costs on AWS, from the measured rate-limited Lambda runs
(bench/results/lambda_rate_limited.jsonl, written by bench/lambda_rate_limited.sh).

Per record of a measured run: invocations, billed duration, SQS requests (the function's
sends, and the event source's receives and deletes, which Lambda's poller makes on the
customer's bill), and S3 requests, scaled to full syncs of 10,000, 100,000 and 1,000,000
records and priced with AWS's us-east-1 list prices below.

The component's figures beside them (bench/results/component_rate_limited.jsonl, when there):
its hosts bill in their own ways (Spin, a server of your own), so they are given as time per
job, not priced.

usage: cost.py RUNS.jsonl [COMPONENT_RUNS.jsonl]   (prints Markdown)"""

import json
import sys

# AWS list prices, us-east-1, as published on AWS's pricing pages (checked 2026-12-06;
# written here so the table can be recomputed, and updated when they change).
PRICES_AS_OF = "2026-12-06"
LAMBDA_GB_SECOND = {"arm64": 0.0000133334, "x86_64": 0.0000166667}
LAMBDA_REQUEST = 0.20 / 1e6
SQS_REQUEST = 0.40 / 1e6       # standard queue, per request (64 KB chunk)
S3_PUT_LIST = 0.005 / 1000      # PUT, COPY, POST, LIST
S3_GET = 0.0004 / 1000          # GET, HEAD and the rest
# The template's defaults (infra/template.yaml).
MEMORY_GB = 256 / 1024
ARCH = "arm64"
# What Affinity adds to each invocation in AWS that a double on loopback does not: the
# round trip of one page (assumed; the measured invocations include the double's own time).
AFFINITY_LATENCY_S = 0.3

runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
latest = {}
for r in runs:
    latest[r["concurrency"]] = r
r = latest.get(4) or runs[-1]
aws = r["aws"]
per_record = {
    "invocations": r["invocations"] / r["records"],
    "seconds": r["invocation_seconds"] / r["records"],
    "seconds_in_aws": (r["invocation_seconds"] + AFFINITY_LATENCY_S * r["invocations"]) / r["records"],
    "sqs": aws.get("sqs_or_secrets", 0) / r["records"],
    "s3_put_list": (aws.get("s3_put", 0) + aws.get("s3_list", 0) + aws.get("s3_post", 0)) / r["records"],
    "s3_get": (aws.get("s3_get", 0) + aws.get("s3_head", 0)) / r["records"],
}
print("# What a full sync costs on AWS\n")
print(f"`python3 bench/cost.py bench/results/lambda_rate_limited.jsonl`, from the run at concurrency "
      f"{r['concurrency']} (sync `{r['sync_id']}`: {r['records']:,} records, {r['pages']:,} pages, "
      f"{r['invocations']:,} invocations, {r['invocation_seconds']:.0f} s of invocations, "
      f"{aws.get('sqs_or_secrets', 0):,} SQS requests, {aws.get('s3_put', 0):,} S3 PUTs, "
      f"{aws.get('s3_list', 0):,} LISTs, {aws.get('s3_get', 0) + aws.get('s3_head', 0):,} GETs and HEADs, "
      f"{aws.get('s3_delete', 0):,} DELETEs), scaled by records. Lambda at {int(MEMORY_GB * 1024)} MB, "
      f"{ARCH} (the template's defaults); us-east-1 list prices as of {PRICES_AS_OF}, without free "
      f"tiers; DELETEs are free. The measured invocations include the double's and moto's time on "
      f"this machine; in AWS each page also waits for Affinity: the second duration column adds "
      f"{AFFINITY_LATENCY_S} s a page.\n")
print("| records | invocations | Lambda GB-s (measured / with Affinity's latency) | SQS requests | S3 PUT+LIST | S3 GET | "
      "Lambda | SQS | S3 | total (with Affinity's latency) |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for n in (10_000, 100_000, 1_000_000):
    inv = per_record["invocations"] * n
    gbs = per_record["seconds"] * n * MEMORY_GB
    gbs_aws = per_record["seconds_in_aws"] * n * MEMORY_GB
    sqs = per_record["sqs"] * n
    put = per_record["s3_put_list"] * n
    get = per_record["s3_get"] * n
    lam = gbs * LAMBDA_GB_SECOND[ARCH] + inv * LAMBDA_REQUEST
    lam_aws = gbs_aws * LAMBDA_GB_SECOND[ARCH] + inv * LAMBDA_REQUEST
    q = sqs * SQS_REQUEST
    s3 = put * S3_PUT_LIST + get * S3_GET
    print(f"| {n:,} | {inv:,.0f} | {gbs:,.0f} / {gbs_aws:,.0f} | {sqs:,.0f} | {put:,.0f} | {get:,.0f} | "
          f"${lam:.4f} | ${q:.4f} | ${s3:.4f} | ${lam + q + s3:.4f} (${lam_aws + q + s3:.4f}) |")

if len(sys.argv) > 2:
    try:
        comp = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
    except FileNotFoundError:
        comp = []
    if comp:
        by = {}
        for c in comp:
            by[c["concurrency"]] = c
        c = by.get(4) or comp[-1]
        print()
        print(f"The component, from its run at concurrency {c['concurrency']} (sync `{c['sync_id']}`: "
              f"{c['jobs']:,} jobs, {c['job_seconds']:.0f} s of jobs as its host timed them, "
              f"{c['aws'].get('sqs_or_secrets', 0):,} SQS requests), scaled the same way:\n")
        print("| records | jobs | job time (s) | SQS requests | S3 PUT+LIST | S3 GET |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: |")
        for n in (10_000, 100_000, 1_000_000):
            k = n / c["records"]
            a = c["aws"]
            print(f"| {n:,} | {c['jobs'] * k:,.0f} | {c['job_seconds'] * k:,.0f} | "
                  f"{a.get('sqs_or_secrets', 0) * k:,.0f} | {(a.get('s3_put', 0) + a.get('s3_list', 0)) * k:,.0f} | "
                  f"{(a.get('s3_get', 0) + a.get('s3_head', 0)) * k:,.0f} |")
