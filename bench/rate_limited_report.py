"""What bench/lambda_rate_limited.sh and bench/component_rate_limited.sh both report of a run.

usage:
  rate_limited_report.py aws RESULT.json MOTO_LOG    the result with its AWS requests added
  rate_limited_report.py row RESULT.json PER_MINUTE COMMIT    its Markdown row

The AWS requests come from moto's request log: S3 by method (a GET with `list-type` is a
LIST), and SQS as the JSON protocol's `POST /` (the sends of the function or component, and
the receives and deletes of the event source or worker, which Lambda's poller makes on the
customer's bill too; the few Secrets Manager reads at cold starts are among them). Lines moto
colours (404s, 204s) are counted as well."""

import collections
import datetime
import json
import re
import sys

REQUEST = re.compile(r'"(?:\x1b\[[0-9;]*m)*(GET|PUT|POST|DELETE|HEAD) (\S+) HTTP')


def aws(result, moto_log):
    counts = collections.Counter()
    for line in open(moto_log, errors="replace"):
        m = REQUEST.search(line)
        if not m:
            continue
        method, path = m.groups()
        if path.startswith("/affinity-bench"):
            counts["s3_list" if method == "GET" and "list-type" in path else f"s3_{method.lower()}"] += 1
        elif method == "POST" and path == "/":
            counts["sqs_or_secrets"] += 1
    return {**result, "aws": dict(counts)}


def row(r, per_minute, commit):
    """The run's Markdown row: the Lambda run's last columns are its SQS messages, invocations
    and invocation time, the component's its SQS requests, jobs and job time."""
    floor = r["requests"] / (per_minute / 60.0)
    share = 100.0 * r["rate_limited"] / r["requests"]
    if "invocations" in r:
        last = [f"{r['messages_received']:,}", f"{r['invocations']:,}", f"{r['invocation_seconds']:.0f} s"]
    else:
        last = [f"{r['aws'].get('sqs_or_secrets', 0):,}", f"{r['jobs']:,}", f"{r['job_seconds']:.0f} s"]
    cells = [str(datetime.date.today()), commit, str(r["concurrency"]), f"{r['pages']:,}",
             f"{r['records']:,}", f"{r['requests']:,} ({r['requests'] / r['pages']:.3f})",
             f"{r['rate_limited']} ({share:.2f}%)", str(r["retries"]), f"{r['wall_s']:.0f} s",
             f"{floor:.0f} s", f"{r['wall_s'] / floor:.3f}", *last]
    return "| " + " | ".join(cells) + " |"


if __name__ == "__main__":
    what, result = sys.argv[1], json.loads(sys.argv[2])
    if what == "aws":
        print(json.dumps(aws(result, sys.argv[3])))
    else:
        print(row(result, int(sys.argv[3]), sys.argv[4]))
