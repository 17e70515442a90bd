"""The pipeline people run today: dlt's `rest_api` source over the same Affinity endpoints
that `bench/run.sh` syncs with affinity-sync, loading to Parquet files or to DuckDB.

    python bench/dlt_affinity.py --base-url http://127.0.0.1:18190 --to parquet --out DIR

The API key comes from AFFINITY_API_KEY. Prints one JSON line: wall seconds and the rows dlt
normalized per table (top-level tables are the records; `persons__fields` and the like are
dlt's child tables of the nested field values). bench/run.sh measures its peak memory with
/usr/bin/time around this process.
"""

import argparse
import json
import os
import time

import dlt
from dlt.sources.rest_api import rest_api_source

ENTITY_FIELDS = ["enriched", "global", "relationship-intelligence"]
LIST_FIELDS = ["enriched", "global", "list", "relationship-intelligence"]


def affinity(base: str, key: str):
    """v2 endpoints with Bearer auth and the `pagination.nextUrl` link; v1 with Basic auth
    and the `next_page_token` cursor, as Affinity documents them."""
    v2 = {"paginator": {"type": "json_link", "next_url_path": "pagination.nextUrl"}, "data_selector": "data"}
    v1 = {
        "auth": {"type": "http_basic", "username": "", "password": key},
        "paginator": {"type": "cursor", "cursor_path": "next_page_token", "cursor_param": "page_token"},
    }

    def v2_resource(name, path, params=None):
        return {"name": name, "endpoint": {"path": path, "params": {"limit": 100, **(params or {})}, **v2}}

    def v1_resource(name, path, selector):
        return {
            "name": name,
            "endpoint": {"path": path, "params": {"page_size": 500}, "data_selector": selector, **v1},
        }

    return rest_api_source(
        {
            "client": {"base_url": base.rstrip("/") + "/", "auth": {"type": "bearer", "token": key}},
            "resources": [
                v2_resource("persons", "v2/persons", {"fieldTypes": ENTITY_FIELDS}),
                v2_resource("companies", "v2/companies", {"fieldTypes": ENTITY_FIELDS}),
                v2_resource("opportunities", "v2/opportunities"),
                v2_resource("lists", "v2/lists"),
                v2_resource("list_entries", "v2/lists/{resources.lists.id}/list-entries", {"fieldTypes": LIST_FIELDS}),
                v2_resource("notes", "v2/notes"),
                v1_resource("reminders", "reminders", "reminders"),
                v1_resource("entity_files", "entity-files", "entity_files"),
            ],
        }
    )


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base-url", required=True)
    p.add_argument("--to", choices=["parquet", "duckdb"], required=True)
    p.add_argument("--out", required=True, help="a directory for dlt's state and the output")
    a = p.parse_args()
    key = os.environ["AFFINITY_API_KEY"]
    os.makedirs(a.out, exist_ok=True)
    if a.to == "duckdb":
        destination = dlt.destinations.duckdb(os.path.join(a.out, "dlt.duckdb"))
        file_format = None
    else:
        destination = dlt.destinations.filesystem(bucket_url="file://" + os.path.abspath(os.path.join(a.out, "files")))
        file_format = "parquet"
    pipeline = dlt.pipeline(
        pipeline_name="affinity_bench",
        pipelines_dir=os.path.join(a.out, "pipelines"),
        destination=destination,
        dataset_name="affinity",
        progress=None,
    )
    start = time.monotonic()
    pipeline.run(affinity(a.base_url, key), loader_file_format=file_format)
    wall = time.monotonic() - start
    rows = dict(pipeline.last_trace.last_normalize_info.row_counts)
    print(json.dumps({"wall": wall, "rows": rows}))


if __name__ == "__main__":
    main()
