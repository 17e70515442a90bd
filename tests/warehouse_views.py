"""Runs the statements of `affinity-sync ddl --views` on a warehouse engine over a store, and
compares every view with the tables `load duckdb` built from the same store.

- `snowflake`: on fakesnow (Snowflake SQL on DuckDB). fakesnow has no stages or external
  tables: `CREATE STAGE` is skipped, and each `CREATE EXTERNAL TABLE` becomes a table of the
  same name with the one VARIANT column `VALUE` an external table has, filled with the store's
  files under its LOCATION that its PATTERN matches (each Parquet row, each NDJSON line, each
  JSON document as one value). Every other statement runs as printed.
- `spark`: on Apache Spark (pyspark, local mode), every statement as printed.
- `bigquery`: no BigQuery runs here, nor an emulator of it: every statement is parsed as
  BigQuery SQL by sqlglot (which fails on what BigQuery would not parse), then each
  `CREATE EXTERNAL TABLE` becomes a DuckDB table of the files its one URI matches (BigQuery's
  `*` spans folders; Parquet as it is, NDJSON with the declared schema, one object a line,
  and no file at all failing as BigQuery fails), and every view is translated to DuckDB's SQL
  by sqlglot and run there.
- `redshift`: no Redshift runs here either: every statement is parsed as Redshift SQL by
  sqlglot; each `COPY … JOB CREATE … AUTO ON` fills its table, at once, with every file under
  its prefix (Parquet columns by name, NDJSON lines, each JSON document whole as `noshred`
  loads it); SUPER values are DuckDB's own (lists, structs, JSON), whose navigation (`m.doc.x`,
  `FROM m, m.doc.streams AS s`) sqlglot translates; then every view runs on DuckDB as
  sqlglot translates it.

- `duckdb-s3`: DuckDB's own statements over `s3://`, on DuckDB (the Python package, the same
  2.0 as the CLI's), with the store's files uploaded to moto's S3 (`AFFINITY_SYNC_MOTO`, the
  bucket and prefix of the statements' location). DuckDB reads `s3://` through its `httpfs`
  extension, which cannot be installed here (extensions.duckdb.org is out of reach): DuckDB
  is given instead an fsspec filesystem for `s3://` that lists and reads (ranged GETs) with
  boto3, so every glob, manifest and batch the statements name is listed and read from S3.

usage: warehouse_views.py snowflake|spark|bigquery|redshift|duckdb-s3 VIEWS.sql STORE_DIR LOADED.duckdb
Prints one line per table and exits 1 when a view differs from the load."""

import collections
import datetime
import decimal
import gzip
import json
import os
import re
import sys

import duckdb

EXTERNAL = re.compile(
    r"CREATE EXTERNAL TABLE IF NOT EXISTS (\S+)\s+LOCATION = @affinity_stage/(\S*)\s+"
    r"PATTERN = '([^']*)'\s+FILE_FORMAT = \(TYPE = (\w+)\)\s+AUTO_REFRESH = TRUE"
)


def statements(text):
    out = []
    for chunk in text.split(";\n"):
        lines = [l for l in chunk.split("\n") if not l.lstrip().startswith("--")]
        s = "\n".join(lines).strip()
        if s:
            out.append(s)
    return out


def documents(path, fmt, reader):
    """The values an external table reads from one file, as JSON text."""
    if fmt == "PARQUET":
        return [r[0] for r in reader.execute(
            "SELECT CAST(to_json(t) AS VARCHAR) FROM read_parquet(?) t", [path]).fetchall()]
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        text = f.read()
    if path.endswith(".ndjson.gz"):
        return [line for line in text.splitlines() if line.strip()]
    return [json.dumps(json.loads(text))]


def norm(v):
    """One value as comparable text: numbers by value, times in UTC, JSON parsed."""
    if v is None or isinstance(v, bool):
        return v
    if hasattr(v, "toJson"):  # Spark's VARIANT
        return norm(v.toJson())
    if isinstance(v, (int, decimal.Decimal, float)):
        return float(v) if float(v) != int(v) else int(v)
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=datetime.timezone.utc)
        return v.astimezone(datetime.timezone.utc).isoformat()
    if isinstance(v, (list, tuple)):
        return json.dumps([norm(x) for x in v])
    if isinstance(v, str):
        try:
            parsed = json.loads(v)
        except ValueError:
            return v
        if isinstance(parsed, list):
            return json.dumps([norm(x) for x in parsed])
        return json.dumps(parsed, sort_keys=True)
    return str(v)


def run_snowflake(text, store):
    """Runs the statements on fakesnow; returns a function that reads a view's rows."""
    import fakesnow
    import snowflake.connector

    reader = duckdb.connect()
    skipped = collections.Counter()
    patch = fakesnow.patch()
    patch.__enter__()
    conn = snowflake.connector.connect(database="warehouse", schema="affinity")
    cur = conn.cursor()
    cur.execute("CREATE DATABASE IF NOT EXISTS warehouse")
    cur.execute("CREATE SCHEMA IF NOT EXISTS warehouse.affinity")
    cur.execute("USE SCHEMA warehouse.affinity")
    for s in statements(text):
        if s.startswith("CREATE STAGE"):
            skipped["CREATE STAGE"] += 1
            continue
        m = EXTERNAL.match(s)
        if m:
            name, folder, pattern, fmt = m.groups()
            skipped["CREATE EXTERNAL TABLE"] += 1
            cur.execute(f"CREATE TABLE {name} (VALUE VARIANT)")
            root = os.path.join(store, folder)
            values = []
            for dirpath, _, files in os.walk(root):
                for f in files:
                    path = os.path.join(dirpath, f)
                    if re.fullmatch(pattern, os.path.relpath(path, root)):
                        values.extend(documents(path, fmt, reader))
            for i in range(0, len(values), 500):
                chunk = values[i:i + 500]
                cur.execute(
                    f"INSERT INTO {name} SELECT PARSE_JSON(column1) FROM VALUES "
                    + ", ".join(["(%s)"] * len(chunk)),
                    chunk,
                )
            continue
        try:
            cur.execute(s)
        except Exception as e:
            raise SystemExit(f"failed: {s[:200]}\n{e}")
    print("not run on fakesnow, replaced as described: "
          + ", ".join(f"{n} x {k}" for k, n in sorted(skipped.items())))

    def rows(table, _open=(patch, conn)):  # keeps the connection open while it is used
        cur.execute(f"SELECT * FROM {table.upper()}")
        return [d[0] for d in cur.description], cur.fetchall()
    return rows


def run_spark(text, work):
    """Runs the statements on Spark; returns a function that reads a view's rows."""
    os.environ["TZ"] = "UTC"
    import time
    time.tzset()
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[2]").appName("affinity-sync views")
             .config("spark.ui.enabled", "false")
             # The wide views plan two views' whole chains each: more than the default 1g.
             .config("spark.driver.memory", "4g")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.sql.shuffle.partitions", "2")
             # Many small files: one task reads many.
             .config("spark.sql.files.openCostInBytes", "1024")
             .config("spark.sql.warehouse.dir", os.path.join(work, "spark-warehouse"))
             .config("spark.driver.extraJavaOptions",
                     f"-Dderby.system.home={os.path.join(work, 'derby')}")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    for s in statements(text):
        try:
            spark.sql(s)
        except Exception as e:
            raise SystemExit(f"failed: {s[:200]}\n{e}")
    print(f"ran on Spark {spark.version}")

    def rows(table):
        frame = spark.sql(f"SELECT * FROM `{table}`")
        return frame.columns, [tuple(r) for r in frame.collect()]
    return rows


def store_files(store, keep):
    """The paths of the store's files whose key (path relative to the store) `keep` accepts."""
    return sorted(path for d, _, fs in os.walk(store) for f in fs
                  if keep(os.path.relpath(path := os.path.join(d, f), store)))


BQ_EXTERNAL = re.compile(
    r"CREATE OR REPLACE EXTERNAL TABLE (\S+?)(?: \((.*)\))?\s+OPTIONS \((.*)\)$", re.S)


def run_bigquery(text, store):
    """Runs the statements as described above; returns a function that reads a view's rows."""
    import sqlglot
    from sqlglot import exp

    location = re.search(r"the current state of (\S+)", text).group(1)
    conn = duckdb.connect()
    translated = 0
    for s in statements(text):
        tree = sqlglot.parse_one(s, read="bigquery")  # raises on what BigQuery would not parse
        m = BQ_EXTERNAL.match(s)
        if not m:
            conn.execute(tree.sql(dialect="duckdb"))
            translated += 1
            continue
        name, schema, options = m.groups()
        uris = re.findall(r"'([^']*)'", options.split("uris =")[1])
        assert len(uris) == 1 and uris[0].startswith(location + "/"), uris
        pattern = re.escape(uris[0][len(location) + 1:]).replace(r"\*", ".*")
        files = store_files(store, lambda key: re.fullmatch(pattern, key))
        if not files:
            raise SystemExit(f"{name}: {uris[0]} matched no files, which BigQuery fails on")
        table = sqlglot.parse_one(name, read="bigquery", into=exp.Table).sql(dialect="duckdb")
        if "'PARQUET'" in options:
            conn.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet(?, union_by_name = true)",
                         [files])
        else:
            columns = {}
            for col in sqlglot.parse_one(f"CREATE TABLE t ({schema})", read="bigquery").this.expressions:
                columns[col.name] = col.args["kind"].sql(dialect="duckdb")
            gz = "compression = 'GZIP'" in options
            conn.execute(
                f"CREATE TABLE {table} AS SELECT * FROM read_json(?, format = 'newline_delimited', "
                f"compression = '{'gzip' if gz else 'none'}', columns = ?)", [files, columns])
    print(f"parsed as BigQuery SQL, {translated} statements run on DuckDB as sqlglot translates them")

    def rows(table):
        result = conn.execute(f'SELECT * FROM affinity."{table}"')
        return [d[0] for d in result.description], result.fetchall()
    return rows


COPY_JOB = re.compile(
    r"COPY (\S+) FROM '([^']*)'\s+IAM_ROLE '[^']*'\s+(FORMAT .*?)\s+JOB CREATE \S+ AUTO ON$", re.S)


def run_redshift(text, store):
    """Runs the statements as described above; returns a function that reads a view's rows."""
    import sqlglot

    location = re.search(r"the current state of (\S+)", text).group(1)
    conn = duckdb.connect()
    columns = {}  # table -> [(column, DuckDB type, or None for SUPER)]
    translated = 0
    for s in statements(text):
        tree = sqlglot.parse_one(s, read="redshift")  # raises on what Redshift would not parse
        m = COPY_JOB.match(s)
        if isinstance(tree, sqlglot.exp.Create) and tree.args.get("kind") == "TABLE":
            name = tree.this.this.sql(dialect="duckdb")
            columns[name] = [
                (c.name, None if c.args["kind"].sql(dialect="redshift") == "SUPER"
                 else c.args["kind"].sql(dialect="duckdb"))
                for c in tree.this.expressions]
            continue
        if not m:
            conn.execute(tree.sql(dialect="duckdb"))
            translated += 1
            continue
        name, prefix, fmt = m.groups()
        name = sqlglot.parse_one(name, read="redshift").sql(dialect="duckdb")
        assert prefix.startswith(location + "/") and prefix.endswith("/"), prefix
        folder = prefix[len(location) + 1:]
        files = store_files(store, lambda key: key.startswith(folder))
        cols = columns[name]
        if "'noshred'" in fmt:
            source = "SELECT t AS doc FROM read_json(?, union_by_name = true) t"
        elif "PARQUET" in fmt:
            source = "SELECT * FROM read_parquet(?, union_by_name = true)"
        else:
            source = ("SELECT * FROM read_json(?, format = 'newline_delimited', "
                      "compression = 'gzip', columns = {%s})" % ", ".join(
                          f"'{c}': '{t or 'JSON'}'" for c, t in cols))
        select = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' if t else f'"{c}"' for c, t in cols)
        empty = ", ".join(f'CAST(NULL AS {t or "JSON"}) AS "{c}"' for c, t in cols)
        if files:
            conn.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT {select} FROM ({source})",
                         [files])
        else:
            conn.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT {empty} LIMIT 0")
    print(f"parsed as Redshift SQL, {translated} statements run on DuckDB as sqlglot translates them")

    def rows(table):
        result = conn.execute(f'SELECT * FROM "{table}"')
        return [d[0] for d in result.description], result.fetchall()
    return rows


def column_name(engine, name):
    """A column of the load as the engine's view names it (compared without case): BigQuery's
    wide views write the signs its column names cannot have as `_`."""
    if engine == "bigquery":
        name = re.sub(r"[^\w \-&%+:#]", "_", name)
    return name.lower()


def s3_filesystem(s3):
    """An fsspec filesystem for `s3://` over the boto3 client `s3`: what DuckDB calls to glob,
    size and read objects when it has no httpfs. The store does not change while the views are
    compared, so a listing is made once and kept, and so is an object once read (each query
    of a view reads every file again)."""
    from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

    class S3File(AbstractBufferedFile):
        def _fetch_range(self, start, end):
            if self.path not in contents:
                bucket, _, key = self.path.partition("/")
                contents[self.path] = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            return contents[self.path][start:end]

    listings, contents = {}, {}

    class S3(AbstractFileSystem):
        protocol = "s3"
        root_marker = ""

        @classmethod
        def _strip_protocol(cls, path):
            return path.removeprefix("s3://").rstrip("/")

        def ls(self, path, detail=True, **kwargs):
            path = self._strip_protocol(path)
            if path not in listings:
                listings[path] = self._list(path)
            return listings[path] if detail else [e["name"] for e in listings[path]]

        def _list(self, path):
            bucket, _, prefix = path.partition("/")
            listed = []
            pages = s3.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix + "/" if prefix else "", Delimiter="/")
            for page in pages:
                for p in page.get("CommonPrefixes", []):
                    listed.append({"name": f"{bucket}/{p['Prefix'].rstrip('/')}",
                                   "type": "directory", "size": 0})
                for o in page.get("Contents", []):
                    listed.append({"name": f"{bucket}/{o['Key']}", "type": "file",
                                   "size": o["Size"]})
            return listed or [self.info(path)]

        def info(self, path, **kwargs):
            bucket, _, key = self._strip_protocol(path).partition("/")
            try:
                head = s3.head_object(Bucket=bucket, Key=key)
                return {"name": f"{bucket}/{key}", "type": "file", "size": head["ContentLength"]}
            except s3.exceptions.ClientError:
                found = s3.list_objects_v2(Bucket=bucket, Prefix=key + "/", MaxKeys=1)
                if found.get("KeyCount", 0):
                    return {"name": f"{bucket}/{key}", "type": "directory", "size": 0}
                raise FileNotFoundError(path)

        def modified(self, path):
            bucket, _, key = self._strip_protocol(path).partition("/")
            return s3.head_object(Bucket=bucket, Key=key)["LastModified"]

        def _open(self, path, mode="rb", **kwargs):
            return S3File(self, self._strip_protocol(path), mode, **kwargs)

    return S3()


def run_duckdb_s3(text, store):
    """Uploads the store to moto, runs the statements on DuckDB reading it through boto3;
    returns a function that reads a view's rows."""
    import boto3

    location = re.search(r"the current state of (s3://\S+)", text).group(1)
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    s3 = boto3.client("s3", endpoint_url=os.environ["AFFINITY_SYNC_MOTO"],
                      region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    uploaded = 0
    for path in store_files(store, lambda key: True):
        s3.upload_file(path, bucket, f"{prefix}/{os.path.relpath(path, store)}")
        uploaded += 1
    conn = duckdb.connect()
    conn.register_filesystem(s3_filesystem(s3))
    for s in statements(text):
        try:
            conn.execute(s)
        except Exception as e:
            raise SystemExit(f"failed: {s[:200]}\n{e}")
    print(f"ran on DuckDB {duckdb.__version__} over {location} ({uploaded} objects on moto, "
          "read through boto3)")

    def rows(table):
        result = conn.execute(f'SELECT * FROM "{table}"')
        return [d[0] for d in result.description], result.fetchall()
    return rows


def main():
    engine, sql_path, store, loaded = sys.argv[1:5]
    text = open(sql_path).read()
    if engine == "snowflake":
        rows = run_snowflake(text, store)
    elif engine == "bigquery":
        rows = run_bigquery(text, store)
    elif engine == "redshift":
        rows = run_redshift(text, store)
    elif engine == "duckdb-s3":
        rows = run_duckdb_s3(text, store)
    else:
        rows = run_spark(text, os.path.dirname(os.path.abspath(sql_path)))
    load = duckdb.connect(loaded, read_only=True)
    # The tables, then the wide views (a column per field), which must have the load's
    # columns in its order, named as the dialect can name them.
    tables = [r[0] for r in load.execute(
        "SELECT table_name FROM information_schema.tables WHERE (table_type = 'BASE TABLE' "
        "AND NOT starts_with(table_name, '_')) OR (table_type = 'VIEW' AND "
        "table_name LIKE '%\\_wide' ESCAPE '\\') ORDER BY table_type, table_name").fetchall()]
    bad = 0
    for t in tables:
        loaded_rows = load.execute(f'SELECT * FROM "{t}"')
        want_names = [column_name(engine, d[0]) for d in loaded_rows.description]
        want = collections.Counter(tuple(norm(v) for v in r) for r in loaded_rows.fetchall())
        names, got_rows = rows(t)
        got = collections.Counter(tuple(norm(v) for v in r) for r in got_rows)
        if [n.lower() for n in names] != want_names:
            bad += 1
            print(f"{t}: columns {names}, the load's {want_names}")
        elif got != want:
            bad += 1
            print(f"{t}: {sum(want.values())} rows loaded, {sum(got.values())} in the view\n"
                  f"  only in the view: {list((got - want).elements())[:3]}\n"
                  f"  only in the load: {list((want - got).elements())[:3]}")
        else:
            print(f"{t}: {sum(want.values())} rows, equal")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
