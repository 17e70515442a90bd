"""Reads one sync's Parquet batches with pyarrow and with DuckDB, independently of the Rust
writer, and prints what each reader sees as JSON: rows, column types, ids and timestamps.

usage: read_back.py OUT_DIR SYNC_ID
"""
import json
import os
import sys

import duckdb
import pyarrow.dataset as ds

out, sync_id = sys.argv[1], sys.argv[2]
result = {}
con = duckdb.connect()
for table in sorted(os.listdir(out)):
    if table.startswith(("_", ".")):
        continue
    t = ds.dataset(f"{out}/{table}/sync_id={sync_id}", format="parquet").to_table()
    names = [f.name for f in t.schema]
    glob = f"{out}/{table}/sync_id=*/*.parquet"
    source = f"read_parquet('{glob}', hive_partitioning = true)"
    where = f"WHERE sync_id = '{sync_id}'"
    entry = {
        "pyarrow_rows": t.num_rows,
        "pyarrow_types": {f.name: str(f.type) for f in t.schema},
        "duckdb_rows": con.sql(f"SELECT count(*) FROM {source} {where}").fetchall()[0][0],
        "duckdb_types": {r[0]: r[1] for r in con.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()},
    }
    if "id" in names:
        entry["pyarrow_ids"] = sorted(t.column("id").to_pylist())
        entry["duckdb_ids"] = [r[0] for r in con.sql(f"SELECT id FROM {source} {where} ORDER BY id").fetchall()]
    if "id" in names and "created_at" in names:
        rows = con.sql(f"SELECT id, epoch_us(created_at) FROM {source} {where} ORDER BY id").fetchall()
        entry["duckdb_created_at"] = [[i, us] for i, us in rows]
    result[table] = entry
print(json.dumps(result))
