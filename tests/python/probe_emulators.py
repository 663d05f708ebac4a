"""What fake-gcs-server and bqemulator support of the REST calls Google's Rust clients make.

A diagnostic run by hand, not by the test suite:
  .venv/bin/python tests/python/probe_emulators.py [gcs] [bq]      (default: both)

Each emulator is started through emulators.py, exactly as the Rust tests start it, and sent
raw HTTP requests shaped like those of google-cloud-storage 1.21 (multipart and resumable
uploads, media downloads; its `Host` header carries no port, as google-cloud-gax-internal
sends it) and of gcp-bigquery-client 0.28 (gzip-compressed insertAll, jobs.query,
getQueryResults, tabledata.list, jobs.insert). One line per check:
  ok    behaves as the real service does, as far as a client can tell
  DIFF  works, but differs from the real service in a way a client notices
  FAIL  unsupported or broken
  info  an observation (timings, memory, encodings)
The exit status is 0 unless an emulator cannot start: differences are findings, not errors.
Everything is written into a temporary folder that is removed at the end.
"""
import base64
import gzip
import hashlib
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections import Counter
from pathlib import Path

EMULATORS = Path(__file__).with_name("emulators.py")
HOST = "127.0.0.1"
PROJECT = "probe-project"
DATASET = "probe_ds"
BUCKET = "probe-bucket"
# google-cloud-gax-internal sends the endpoint's host without its port as the Host header.
RUST_STORAGE_HEADERS = {"Host": HOST, "x-goog-api-client": "gl-rust/probe gccl/1.21.0"}
# gcp-bigquery-client always sends a bearer token; the emulator ignores it.
RUST_BQ_HEADERS = {"Authorization": "Bearer probe-token"}
QUANTUM = 256 * 1024  # resumable chunks are multiples of 256 KiB


class Report:
    """Prints one line per finding and counts verdicts for the summary."""

    def __init__(self):
        self.counts = Counter()

    def __call__(self, verdict, name, detail=""):
        self.counts[verdict] += 1
        print(f"[{verdict:4}] {name}: {detail}", flush=True)

    def expect(self, name, got, want, how="DIFF"):
        """ok when `got == want`, else `how` with both shown."""
        if got == want:
            self("ok", name, short(got))
        else:
            self(how, name, f"got {short(got)}, real service: {short(want)}")

    def section(self, title):
        print(f"\n== {title}", flush=True)


REPORT = Report()


def short(value, limit=160):
    """repr() cut to one readable line (object contents can be large)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


# --- HTTP and processes ---------------------------------------------------------------------


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return {}


class Client:
    """Raw HTTP/1.1 to one emulator, with the headers its Rust client would send."""

    def __init__(self, port, headers, host=HOST):
        self.host = host
        self.port = port
        self.headers = headers

    def request(self, method, path, body=None, headers=None):
        all_headers = dict(self.headers)
        all_headers.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request(method, path, body, all_headers)
            r = conn.getresponse()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()


class Launcher:
    """emulators.py as a child process: startup time, memory and a clean stop."""

    def __init__(self, workdir, kind, *args):
        self.kind = kind
        port_file = workdir / f"{kind}-{uuid.uuid4().hex[:6]}.port"
        self.log = open(workdir / f"{kind}.log", "ab")
        started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, str(EMULATORS), kind, "--port-file", str(port_file), *args],
            stdout=self.log, stderr=self.log,
        )
        while not port_file.exists():
            if self.proc.poll() is not None:
                log = Path(self.log.name).read_text(errors="replace")
                raise SystemExit(f"{kind} launcher exited with {self.proc.returncode}:\n{log}")
            time.sleep(0.02)
        self.startup_s = time.monotonic() - started
        self.port = int(port_file.read_text())
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        self.emulator_pid = int(children.split()[0])

    def rss_mib(self):
        """Resident memory of the emulator process (not the launcher)."""
        for line in Path(f"/proc/{self.emulator_pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        """SIGTERM the launcher; report its exit status, the time taken and leftovers."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        status = self.proc.wait(30)
        took = time.monotonic() - started
        leftover = Path(f"/proc/{self.emulator_pid}").exists()
        self.log.close()
        verdict = "ok" if status == 0 and not leftover else "FAIL"
        REPORT(verdict, f"{self.kind} stop", f"launcher exit {status} after {took:.2f}s, "
               f"emulator process {'still running' if leftover else 'gone'}")


# --- checksums as GCS encodes them ----------------------------------------------------------


def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC32C_TABLE = _crc32c_table()


def crc32c_b64(data):
    """CRC32C (Castagnoli) as GCS sends it: base64 of the 4 big-endian bytes."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return base64.b64encode((crc ^ 0xFFFFFFFF).to_bytes(4, "big")).decode()


def md5_b64(data):
    return base64.b64encode(hashlib.md5(data).digest()).decode()


# --- GCS ------------------------------------------------------------------------------------


def enc(name):
    """Object names in paths, as google-cloud-storage encodes them: every byte but
    ASCII letters, digits and `-._~` percent-encoded (so `/` becomes %2F)."""
    return urllib.parse.quote(name, safe="-._~")


def multipart_body(metadata, media, trailing=None):
    """A multipart/related body as reqwest's multipart::Form builds it for the Rust client:
    a `metadata` part (JSON), a `media` part without Content-Type and, from
    `send_unbuffered()`, a third `checksums` part with the CRC32C computed while streaming."""
    boundary = uuid.uuid4().hex
    json_type = b"Content-Type: application/json; charset=UTF-8\r\n"
    parts = [
        (b'Content-Disposition: form-data; name="metadata"\r\n' + json_type,
         json.dumps(metadata).encode()),
        (b'Content-Disposition: form-data; name="media"\r\n', media),
    ]
    if trailing is not None:
        parts.append((b'Content-Disposition: form-data; name="checksums"\r\n' + json_type,
                      json.dumps(trailing).encode()))
    delimiter = b"--" + boundary.encode()
    body = b"".join(delimiter + b"\r\n" + head + b"\r\n" + data + b"\r\n" for head, data in parts)
    return body + delimiter + b"--\r\n", {"Content-Type": f"multipart/related; boundary={boundary}"}


def upload_multipart(gcs, name, data, metadata=None, query="", trailing=None):
    """POST /upload/storage/v1/b/B/o?uploadType=multipart&name=... (single-shot upload)."""
    metadata = metadata if metadata is not None else {"crc32c": crc32c_b64(data)}
    body, headers = multipart_body(metadata, data, trailing)
    name_q = urllib.parse.quote_plus(name)  # reqwest's query encoding (serde_urlencoded)
    path = f"/upload/storage/v1/b/{BUCKET}/o?uploadType=multipart&name={name_q}{query}"
    return gcs.request("POST", path, body, headers)


def download(gcs, name, headers=None, query=""):
    return gcs.request("GET", f"/storage/v1/b/{BUCKET}/o/{enc(name)}?alt=media{query}", None,
                       {"accept-encoding": "gzip", **(headers or {})})


def gcs_buckets(gcs, port):
    REPORT.section("GCS buckets (the Rust client's StorageControl is gRPC: see the last line)")
    r = gcs.request("POST", f"/storage/v1/b?project={PROJECT}", {"name": BUCKET})
    REPORT.expect("bucket create POST /storage/v1/b?project=", r.status, 200, "FAIL")
    r = gcs.request("POST", f"/storage/v1/b?project={PROJECT}", {"name": BUCKET})
    REPORT.expect("bucket create again", r.status, 409)
    r = gcs.request("GET", f"/storage/v1/b/{BUCKET}?alt=json&%24alt=json%3Benum-encoding%3Dint")
    REPORT.expect("bucket get with $alt=json;enum-encoding=int", r.status, 200)
    REPORT("info", "bucket resource", json.dumps(r.json())[:300])
    gcs_grpc(port)


def gcs_grpc(port):
    """google-cloud-storage's StorageControl (create/get/delete bucket, get/list/delete
    object, ...) speaks gRPC google.storage.v2 over HTTP/2; only reads and writes of object
    data (`Storage`) use the JSON API."""
    import grpc  # installed with bqemulator

    with grpc.insecure_channel(f"{HOST}:{port}") as channel:
        call = channel.unary_unary("/google.storage.v2.Storage/GetBucket",
                                   request_serializer=lambda b: b,
                                   response_deserializer=lambda b: b)
        try:
            call(b"", timeout=5)
            REPORT("ok", "gRPC google.storage.v2.Storage/GetBucket", "answered")
        except grpc.RpcError as e:
            REPORT("FAIL", "gRPC google.storage.v2.Storage/GetBucket (StorageControl)",
                   f"{e.code().name}: {e.details()[:150]}")


def gcs_single_shot(gcs):
    REPORT.section("GCS single-shot (multipart) uploads")
    data = b"id,label\n1,yes\n2,no\n"
    name = "dir/a.csv"
    metadata = {"contentType": "text/csv", "crc32c": crc32c_b64(data), "md5Hash": md5_b64(data)}
    r = upload_multipart(gcs, name, data, metadata, "&ifGenerationMatch=0")
    REPORT.expect("2-part upload (send_buffered) with ifGenerationMatch=0", r.status, 200, "FAIL")
    obj = r.json()
    REPORT.expect("  size is a decimal string", obj.get("size"), str(len(data)))
    REPORT.expect("  generation is a decimal string", isinstance(obj.get("generation"), str), True)
    REPORT.expect("  md5Hash (base64 of the digest)", obj.get("md5Hash"), md5_b64(data))
    REPORT.expect("  crc32c (base64, big-endian)", obj.get("crc32c"), crc32c_b64(data))
    REPORT.expect("  contentType from the metadata part", obj.get("contentType"), "text/csv")
    REPORT.expect("  selfLink points back here", obj.get("selfLink", "").startswith(
        f"http://{HOST}:{gcs.port}/"), True)
    REPORT.expect("  content round trip", download(gcs, name).body, data, "FAIL")
    r = upload_multipart(gcs, name, data, metadata, "&ifGenerationMatch=0")
    REPORT.expect("same upload again, ifGenerationMatch=0 (create-only)", r.status, 412, "FAIL")
    wrong = {"crc32c": crc32c_b64(b"something else")}
    r = upload_multipart(gcs, "dir/wrong-crc", data, wrong)
    REPORT.expect("upload whose metadata crc32c does not match the data", r.status, 400)
    r = upload_multipart(gcs, "dir/three-parts", data, {}, trailing={"crc32c": crc32c_b64(data)})
    stored = download(gcs, "dir/three-parts").body
    REPORT.expect("3-part upload (send_unbuffered: trailing checksums part) content",
                  stored, data, "FAIL")
    REPORT.expect("  its contentType", r.json().get("contentType"), "application/octet-stream")


def resumable_start(gcs, name, metadata, headers=None, query=""):
    path = (f"/upload/storage/v1/b/{BUCKET}/o?uploadType=resumable"
            f"&name={urllib.parse.quote_plus(name)}{query}")
    r = gcs.request("POST", path, metadata, headers)
    return r, r.headers.get("location", "")


def session_path(location):
    """The session URL's path and query; the probe always connects to the emulator's port."""
    parts = urllib.parse.urlsplit(location)
    return f"{parts.path}?{parts.query}"


def put_chunk(gcs, location, data, content_range):
    headers = {"Content-Range": content_range, "content-type": "application/octet-stream"}
    return gcs.request("PUT", session_path(location), data, headers)


def gcs_resumable(gcs):
    REPORT.section("GCS resumable uploads")
    data = os.urandom(QUANTUM) + b"tail of the object" * 6
    name = "big/object.bin"
    r, location = resumable_start(gcs, name, {"contentType": "application/x-probe"})
    REPORT.expect("initiate (uploadType=resumable), Host without port", r.status, 200, "FAIL")
    REPORT.expect("  Location points back to the emulator (host:port)",
                  urllib.parse.urlsplit(location).netloc, f"{HOST}:{gcs.port}", "FAIL")
    _, with_port = resumable_start(gcs, name, {}, {"Host": f"{HOST}:{gcs.port}"})
    REPORT("info", "  Location when the Host header has the port", with_port)
    r = put_chunk(gcs, location, data[:QUANTUM], f"bytes 0-{QUANTUM - 1}/*")
    REPORT.expect("chunk 1 `bytes 0-262143/*`: 308 Resume Incomplete", r.status, 308, "FAIL")
    REPORT.expect("  Range header", r.headers.get("range"), f"bytes=0-{QUANTUM - 1}")
    r = put_chunk(gcs, location, data[QUANTUM:], f"bytes {QUANTUM}-{len(data) - 1}/{len(data)}")
    REPORT.expect("final chunk `bytes a-b/total`: 200", r.status, 200, "FAIL")
    obj = r.json()
    REPORT.expect("  size", obj.get("size"), str(len(data)))
    REPORT.expect("  md5Hash", obj.get("md5Hash"), md5_b64(data))
    REPORT.expect("  crc32c", obj.get("crc32c"), crc32c_b64(data))
    REPORT.expect("  contentType from the initiation metadata", obj.get("contentType"),
                  "application/x-probe")
    REPORT.expect("  content round trip", download(gcs, name).body, data, "FAIL")

    _, location = resumable_start(gcs, "big/one-put", {})
    r = put_chunk(gcs, location, data, "bytes 0-*/*")
    REPORT.expect("one PUT `bytes 0-*/*` (send_unbuffered, size unknown)", r.status, 200, "FAIL")
    REPORT.expect("  size", r.json().get("size"), str(len(data)))

    _, location = resumable_start(gcs, "big/empty-final", {})
    put_chunk(gcs, location, data[:QUANTUM], f"bytes 0-{QUANTUM - 1}/*")
    r = put_chunk(gcs, location, b"", f"bytes */{QUANTUM}")
    REPORT.expect("empty final PUT `bytes */N` (stream ended on a chunk boundary)",
                  (r.status, r.json().get("size")), (200, str(QUANTUM)), "FAIL")

    _, location = resumable_start(gcs, "big/status-query", {})
    put_chunk(gcs, location, data[:QUANTUM], f"bytes 0-{QUANTUM - 1}/*")
    r = put_chunk(gcs, location, b"", "bytes */*")
    REPORT.expect("status query `bytes */*` mid-upload (the Rust client's retry path)",
                  r.status, 308, "FAIL")

    _, location = resumable_start(gcs, name, {}, query="&ifGenerationMatch=0")
    r = put_chunk(gcs, location, b"overwrite", "bytes 0-8/9")
    REPORT.expect("ifGenerationMatch=0 on an existing object (resumable)", r.status, 412)


def gcs_resumable_port_80(workdir):
    """The way around the Host-without-port problem: fake-gcs on port 80 of its own
    loopback address, and the client endpoint `http://127.0.0.N` (no port), so the
    session URL built from `Host: 127.0.0.N` is right. Binding port 80 needs root."""
    REPORT.section("GCS resumable upload, emulator on port 80 (gcs --host 127.0.0.N --port 80)")
    if os.geteuid() != 0:
        REPORT("info", "skipped", "binding port 80 needs root")
        return
    host = f"127.0.{random.randint(1, 254)}.{random.randint(1, 254)}"
    launcher = Launcher(workdir, "gcs", "--host", host, "--port", "80")
    try:
        gcs = Client(80, dict(RUST_STORAGE_HEADERS, Host=host), host)
        gcs.request("POST", f"/storage/v1/b?project={PROJECT}", {"name": BUCKET})
        data = os.urandom(QUANTUM + 10)
        _, location = resumable_start(gcs, "port80.bin", {})
        REPORT.expect("Location", urllib.parse.urlsplit(location).netloc, host, "FAIL")
        put_chunk(gcs, location, data[:QUANTUM], f"bytes 0-{QUANTUM - 1}/*")
        r = put_chunk(gcs, location, data[QUANTUM:], f"bytes {QUANTUM}-{len(data) - 1}/{len(data)}")
        REPORT.expect("two chunks, then the content", (r.status, download(gcs, "port80.bin").body
                                                      == data), (200, True), "FAIL")
    finally:
        launcher.stop()


def gcs_download(gcs):
    REPORT.section("GCS media download: GET /storage/v1/b/B/o/NAME?alt=media")
    data = bytes(range(256)) * 4
    name = "dl/bytes.bin"
    upload_multipart(gcs, name, data)
    r = download(gcs, name)
    REPORT.expect("full read", (r.status, r.body == data), (200, True), "FAIL")
    for header in ("x-goog-generation", "x-goog-hash", "content-length",
                   "x-goog-stored-content-length", "x-goog-metageneration",
                   "x-goog-stored-content-encoding", "content-type"):
        verdict = "ok" if header in r.headers else "DIFF"
        REPORT(verdict, f"  header {header}", r.headers.get(header, "missing"))
    REPORT.expect("  x-goog-hash", r.headers.get("x-goog-hash"),
                  f"crc32c={crc32c_b64(data)},md5={md5_b64(data)}")
    for spec, start, end in (("bytes=2-5", 2, 5), ("bytes=1000-", 1000, 1023),
                             ("bytes=-4", 1020, 1023), ("bytes=1000-5000", 1000, 1023)):
        r = download(gcs, name, {"Range": spec})
        got = (r.status, r.headers.get("content-range"), r.body == data[start:end + 1])
        REPORT.expect(f"Range: {spec}", got, (206, f"bytes {start}-{end}/{len(data)}", True))
    r = download(gcs, name, {"Range": "bytes=5000-"})
    REPORT.expect("Range beyond the end", r.status, 416)
    r = download(gcs, name, query="&%24alt=json%3Benum-encoding%3Dint&userProject=p&unknown=1")
    REPORT.expect("unknown query parameters are ignored", r.status, 200)
    r = download(gcs, "dl/missing")
    REPORT.expect("missing object", r.status, 404)
    REPORT("info", "  404 body", r.body[:120].decode(errors="replace"))


def gcs_metadata_and_names(gcs):
    REPORT.section("GCS object metadata and names")
    name = "dir/sp ace+plus%25 é~!.txt"
    data = b"odd name"
    r = upload_multipart(gcs, name, data)
    REPORT.expect("upload with name= form-encoded (space as +)", r.json().get("name"), name, "FAIL")
    r = gcs.request("GET", f"/storage/v1/b/{BUCKET}/o/{enc(name)}")
    REPORT.expect("metadata GET with the name percent-encoded (/ as %2F)",
                  (r.status, r.json().get("name")), (200, name), "FAIL")
    REPORT("info", "  object resource", json.dumps(r.json())[:400])
    REPORT.expect("media GET of the same name", download(gcs, name).body, data, "FAIL")
    r = gcs.request("GET", f"/storage/v1/b/{BUCKET}/o/{enc(name)}"
                           "?alt=json&%24alt=json%3Benum-encoding%3Dint&projection=full")
    REPORT.expect("metadata GET with alt=json&$alt=json;enum-encoding=int", r.status, 200)


def list_names(gcs, query):
    """All pages of objects.list: (item names per page, prefixes, pages)."""
    names, prefixes, pages, token = [], [], 0, None
    while True:
        page = f"&pageToken={urllib.parse.quote(token)}" if token else ""
        r = gcs.request("GET", f"/storage/v1/b/{BUCKET}/o?{query}{page}")
        body = r.json()
        names += [item["name"] for item in body.get("items", [])]
        prefixes += body.get("prefixes", [])
        pages += 1
        token = body.get("nextPageToken")
        if not token or pages > 20:
            return names, prefixes, pages


def gcs_list(gcs):
    REPORT.section("GCS list: GET /storage/v1/b/B/o")
    for name in ("list/a.txt", "list/b/c.txt", "list/b/d.txt", "list/e.txt", "listing.txt"):
        upload_multipart(gcs, name, name.encode())
    REPORT.expect("prefix=list/", list_names(gcs, "prefix=list/")[:2],
                  (["list/a.txt", "list/b/c.txt", "list/b/d.txt", "list/e.txt"], []))
    REPORT.expect("prefix=list/&delimiter=/", list_names(gcs, "prefix=list/&delimiter=/")[:2],
                  (["list/a.txt", "list/e.txt"], ["list/b/"]))
    REPORT.expect("maxResults=2 + pageToken: names, pages",
                  list_names(gcs, "prefix=list/&maxResults=2")[::2],
                  (["list/a.txt", "list/b/c.txt", "list/b/d.txt", "list/e.txt"], 2))
    names, prefixes, pages = list_names(gcs, "prefix=list/&delimiter=/&maxResults=1")
    REPORT.expect("maxResults=1 + delimiter: names, prefixes (pages)", (names, prefixes),
                  (["list/a.txt", "list/e.txt"], ["list/b/"]))
    REPORT("info", "  pages for maxResults=1 + delimiter", str(pages))
    r = gcs.request("GET", f"/storage/v1/b/{BUCKET}/o?prefix=list/b/&maxResults=1")
    REPORT("info", "list page shape", json.dumps(r.json())[:300])


def gcs_delete(gcs):
    REPORT.section("GCS delete")
    name = "dir/a.csv"
    r = gcs.request("DELETE", f"/storage/v1/b/{BUCKET}/o/{enc(name)}")
    REPORT.expect("DELETE /storage/v1/b/B/o/NAME", r.status, 204)
    REPORT.expect("then GET", gcs.request("GET", f"/storage/v1/b/{BUCKET}/o/{enc(name)}").status,
                  404)
    r = gcs.request("DELETE", f"/storage/v1/b/{BUCKET}/o/{enc(name)}")
    REPORT.expect("DELETE again", r.status, 404)
    REPORT("info", "  404 body", r.body[:200].decode(errors="replace"))


def probe_gcs(workdir):
    started = Launcher(workdir, "gcs")
    REPORT("info", "gcs startup (launcher start to port file)", f"{started.startup_s:.2f}s")
    REPORT("info", "gcs memory after startup", f"{started.rss_mib():.0f} MiB RSS")
    gcs = Client(started.port, RUST_STORAGE_HEADERS)
    try:
        gcs_buckets(gcs, started.port)
        gcs_single_shot(gcs)
        gcs_resumable(gcs)
        gcs_download(gcs)
        gcs_metadata_and_names(gcs)
        gcs_list(gcs)
        gcs_delete(gcs)
        REPORT("info", "gcs memory at the end", f"{started.rss_mib():.0f} MiB RSS")
    finally:
        started.stop()
    gcs_resumable_port_80(workdir)


# --- BigQuery -------------------------------------------------------------------------------

BQ = f"/bigquery/v2/projects/{PROJECT}"


def field(name, type_, mode=None, fields=None):
    f = {"name": name, "type": type_}
    if mode:
        f["mode"] = mode
    if fields:
        f["fields"] = fields
    return f


# (column, schema type, value sent in insertAll, value real BigQuery returns in "v").
# TIMESTAMP comes back from real BigQuery as float seconds in E notation
# (formatOptions.useInt64Timestamp=false, the default and what gcp-bigquery-client asks for).
TYPED_VALUES = [
    ("s", "STRING", "héllo", "héllo"),
    ("by", "BYTES", base64.b64encode(b"\x00\x01bytes").decode(),
     base64.b64encode(b"\x00\x01bytes").decode()),
    ("i", "INTEGER", "9007199254740993", "9007199254740993"),
    ("i64", "INT64", -5, "-5"),
    ("f", "FLOAT", 1.5, "1.5"),
    ("f64", "FLOAT64", 0.1, "0.1"),
    ("n", "NUMERIC", "12345678901234567890123456789.123456789",
     "12345678901234567890123456789.123456789"),
    ("n_short", "NUMERIC", "1.25", "1.25"),
    ("b", "BOOLEAN", True, "true"),
    ("bo", "BOOL", "false", "false"),
    ("ts", "TIMESTAMP", "2024-01-02T03:04:05.123456Z", "1.704164645123456E9"),
    ("ts_num", "TIMESTAMP", 1704164645.5, "1.7041646455E9"),
    ("d", "DATE", "2024-01-02", "2024-01-02"),
    ("t", "TIME", "03:04:05.123456", "03:04:05.123456"),
    ("dt", "DATETIME", "2024-01-02T03:04:05.123456", "2024-01-02T03:04:05.123456"),
    ("j", "JSON", '{"a":1}', '{"a":1}'),
    ("g", "GEOGRAPHY", "POINT(1 2)", "POINT(1 2)"),
    ("rs", "STRING", ["a", "b"], [{"v": "a"}, {"v": "b"}]),
    ("rec", "RECORD", {"x": 1, "y": "z"}, {"f": [{"v": "1"}, {"v": "z"}]}),
    ("rrec", "STRUCT", [{"x": 2, "y": "w"}], [{"v": {"f": [{"v": "2"}, {"v": "w"}]}}]),
]
REPEATED = {"rs", "rrec"}
SUBFIELDS = [field("x", "INTEGER"), field("y", "STRING")]


def typed_schema():
    fields = [field("id", "INTEGER", "REQUIRED")]
    for column, type_, _, _ in TYPED_VALUES:
        sub = SUBFIELDS if type_ in ("RECORD", "STRUCT") else None
        fields.append(field(column, type_, "REPEATED" if column in REPEATED else None, sub))
    return fields


def query(bq, sql, **options):
    """jobs.query as gcp-bigquery-client's QueryRequest::new(sql) sends it."""
    return bq.request("POST", f"{BQ}/queries", {"query": sql, "useLegacySql": False, **options})


def rows_of(body):
    return [[cell["v"] for cell in row["f"]] for row in body.get("rows", [])]


def bq_datasets(bq):
    REPORT.section("BigQuery datasets")
    r = bq.request("GET", f"{BQ}/datasets/{DATASET}")
    REPORT.expect("datasets.get (created by the launcher)", r.status, 200, "FAIL")
    REPORT("info", "  dataset resource", json.dumps(r.json())[:300])
    body = {"datasetReference": {"projectId": PROJECT, "datasetId": DATASET}}
    REPORT.expect("datasets.insert of an existing dataset",
                  bq.request("POST", f"{BQ}/datasets", body).status, 409)
    body = {"datasetReference": {"projectId": PROJECT, "datasetId": "probe_other"},
            "location": "EU", "someUnknownField": True}
    r = bq.request("POST", f"{BQ}/datasets", body)
    REPORT.expect("datasets.insert with an unknown field", r.status, 200)
    REPORT.expect("  location kept", r.json().get("location"), "EU")


def bq_tables(bq):
    REPORT.section("BigQuery tables")
    ref = {"projectId": PROJECT, "datasetId": DATASET, "tableId": "typed"}
    sent = typed_schema()
    r = bq.request("POST", f"{BQ}/datasets/{DATASET}/tables",
                   {"tableReference": ref, "schema": {"fields": sent}, "someUnknownField": 1})
    REPORT.expect("tables.insert with every type (and an unknown field)", r.status, 200, "FAIL")
    bignum = {"tableReference": dict(ref, tableId="bignumeric"),
              "schema": {"fields": [field("bn", "BIGNUMERIC")]}}
    r = bq.request("POST", f"{BQ}/datasets/{DATASET}/tables", bignum)
    REPORT.expect("tables.insert with a BIGNUMERIC column", r.status, 200, "FAIL")
    REPORT("info", "  answer", r.body[:150].decode(errors="replace"))
    r = bq.request("GET", f"{BQ}/datasets/{DATASET}/tables/typed")
    table = r.json()
    got = {f["name"]: f["type"] for f in table.get("schema", {}).get("fields", [])}
    legacy = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN", "STRUCT": "RECORD"}
    for f in sent:
        REPORT.expect(f"  tables.get type of {f['name']} (sent {f['type']})",
                      got.get(f["name"]), legacy.get(f["type"], f["type"]))
    REPORT.expect("  numRows is a decimal string", table.get("numRows"), "0")
    REPORT.expect("tables.insert of an existing table",
                  bq.request("POST", f"{BQ}/datasets/{DATASET}/tables",
                             {"tableReference": ref, "schema": {"fields": sent}}).status, 409)


def insert_all_gzip(bq, table, rows):
    """tabledata.insertAll as gcp-bigquery-client sends it with its default `gzip` feature:
    gzip body, Content-Encoding: gzip, Content-Type: application/octet-stream."""
    body = gzip.compress(json.dumps({"rows": rows}).encode())
    return bq.request("POST", f"{BQ}/datasets/{DATASET}/tables/{table}/insertAll", body,
                      {"Content-Encoding": "gzip", "Content-Type": "application/octet-stream"})


def bq_insert_all(bq):
    REPORT.section("BigQuery tabledata.insertAll")
    full = {"id": 1, **{column: sent for column, _, sent, _ in TYPED_VALUES}}
    nulls = {"id": 2, **{column: None for column, _, _, _ in TYPED_VALUES}}
    rows = [{"insertId": "row-1", "json": full}, {"insertId": "row-2", "json": nulls},
            {"insertId": "row-3", "json": {"id": 3}}]
    r = insert_all_gzip(bq, "typed", rows)
    REPORT.expect("gzip + application/octet-stream body, 3 rows",
                  (r.status, r.json().get("insertErrors", [])), (200, []), "FAIL")
    r = insert_all_gzip(bq, "typed", rows[:1])
    count = rows_of(query(bq, f"SELECT COUNT(*) FROM {DATASET}.typed WHERE id = 1").json())
    REPORT.expect("same insertId sent twice: rows stored (best-effort dedup)", count, [["1"]])
    query(bq, f"DELETE FROM {DATASET}.typed WHERE id = 1")
    insert_all_gzip(bq, "typed", rows[:1])
    r = bq.request("POST", f"{BQ}/datasets/{DATASET}/tables/typed/insertAll",
                   {"rows": [{"json": {"id": 4, "unknownColumn": 1}}]})
    REPORT.expect("row with an unknown column (ignoreUnknownValues unset)",
                  r.json().get("insertErrors", []) != [] or r.status >= 400, True)
    query(bq, f"DELETE FROM {DATASET}.typed WHERE id = 4")
    r = bq.request("POST", f"{BQ}/datasets/{DATASET}/tables/typed/insertAll",
                   {"rows": [{"json": {"s": "no id"}}]})
    REPORT.expect("row missing a REQUIRED column", r.json().get("insertErrors", []) != []
                  or r.status >= 400, True)
    REPORT("info", "  answer", r.body[:200].decode(errors="replace"))
    query(bq, f"DELETE FROM {DATASET}.typed WHERE id IS NULL")


def bq_values(bq):
    REPORT.section("BigQuery values as tabledata.list returns them (row inserted above)")
    r = bq.request("GET", f"{BQ}/datasets/{DATASET}/tables/typed/data")
    by_id = {row[0]: row for row in rows_of(r.json())}
    full, nulls, missing = by_id.get("1", []), by_id.get("2", []), by_id.get("3", [])
    for index, (column, type_, sent, want) in enumerate(TYPED_VALUES, start=1):
        got = full[index] if index < len(full) else "(no row)"
        REPORT.expect(f"{type_:9} {column:7} sent {json.dumps(sent)[:40]}", got, want)
    want_null = [[] if column in REPEATED else None for column, _, _, _ in TYPED_VALUES]
    REPORT.expect("explicit JSON nulls come back as", nulls[1:], want_null)
    REPORT.expect("absent keys come back as", missing[1:], want_null)
    r = query(bq, f"SELECT ts, n_short, CAST(ts AS STRING), CAST(n_short AS STRING) "
                  f"FROM {DATASET}.typed WHERE id = 1")
    REPORT("info", "jobs.query of the same TIMESTAMP, NUMERIC and their CAST AS STRING",
           json.dumps(rows_of(r.json())))


def bq_tabledata_pages(bq):
    REPORT.section("BigQuery tabledata.list pagination")
    bq.request("POST", f"{BQ}/datasets/{DATASET}/tables", {
        "tableReference": {"projectId": PROJECT, "datasetId": DATASET, "tableId": "numbers"},
        "schema": {"fields": [field("n", "INTEGER")]}})
    rows = [{"insertId": str(n), "json": {"n": n}} for n in range(5)]
    insert_all_gzip(bq, "numbers", rows)
    path = f"{BQ}/datasets/{DATASET}/tables/numbers/data?maxResults=2"
    first = bq.request("GET", path).json()
    REPORT.expect("maxResults=2: totalRows (string)", first.get("totalRows"), "5")
    REPORT("info", "  pageToken", repr(first.get("pageToken")))
    seen, token, pages = rows_of(first), first.get("pageToken"), 1
    while token and pages < 10:
        page = bq.request("GET", f"{path}&pageToken={urllib.parse.quote(token)}").json()
        seen += rows_of(page)
        token, pages = page.get("pageToken"), pages + 1
    REPORT.expect("all pages", (sorted(v for [v] in seen), pages),
                  (["0", "1", "2", "3", "4"], 3))
    page = bq.request("GET", f"{BQ}/datasets/{DATASET}/tables/numbers/data?startIndex=3").json()
    REPORT.expect("startIndex=3", len(rows_of(page)), 2)


def bq_query_pages(bq):
    REPORT.section("BigQuery jobs.query and jobs.getQueryResults")
    started = time.monotonic()
    r = query(bq, f"SELECT n FROM {DATASET}.numbers ORDER BY n", maxResults=2)
    took = time.monotonic() - started
    body = r.json()
    REPORT.expect("jobs.query maxResults=2", (r.status, rows_of(body)), (200, [["0"], ["1"]]),
                  "FAIL")
    REPORT("info", "  latency", f"{took * 1000:.0f} ms")
    REPORT.expect("  jobComplete", body.get("jobComplete"), True)
    REPORT.expect("  totalRows", body.get("totalRows"), "5")
    job = body.get("jobReference", {})
    REPORT.expect("  jobReference has projectId, jobId, location",
                  sorted(job), ["jobId", "location", "projectId"])
    REPORT("info", "  pageToken", repr(body.get("pageToken")))
    REPORT("info", "  other keys", ", ".join(sorted(set(body) - {"rows", "schema"})))
    seen, token = rows_of(body), body.get("pageToken")
    while token:
        page = bq.request("GET", f"{BQ}/queries/{job.get('jobId')}?maxResults=2"
                                 f"&pageToken={urllib.parse.quote(token)}").json()
        seen += rows_of(page)
        token = page.get("pageToken")
    REPORT.expect("getQueryResults with pageToken until none", [v for [v] in seen],
                  ["0", "1", "2", "3", "4"], "FAIL")
    r = bq.request("GET", f"{BQ}/queries/{job.get('jobId')}?startIndex=4&timeoutMs=1000")
    REPORT.expect("getQueryResults startIndex=4", rows_of(r.json()), [["4"]])
    r = query(bq, f"SELECT n FROM {DATASET}.numbers", timeoutMs=0)
    REPORT("info", "jobs.query timeoutMs=0: jobComplete", repr(r.json().get("jobComplete")))


def bq_query_types(bq):
    REPORT.section("BigQuery query result types and values (computed columns)")
    expressions = [
        ("1", "INTEGER", "1"), ("1.5", "FLOAT", "1.5"), ("NUMERIC '1.25'", "NUMERIC", "1.25"),
        ("BIGNUMERIC '1.5'", "BIGNUMERIC", "1.5"), ("TRUE", "BOOLEAN", "true"),
        ("b'abc'", "BYTES", "YWJj"), ("DATE '2024-01-02'", "DATE", "2024-01-02"),
        ("DATETIME '2024-01-02 03:04:05'", "DATETIME", "2024-01-02T03:04:05"),
        ("TIMESTAMP '2024-01-02 03:04:05 UTC'", "TIMESTAMP", "1.704164645E9"),
        ("TIME '03:04:05'", "TIME", "03:04:05"), ("JSON '{\"a\":1}'", "JSON", '{"a":1}'),
        ("ST_GEOGPOINT(1, 2)", "GEOGRAPHY", "POINT(1 2)"),
        ("CAST('NaN' AS FLOAT64)", "FLOAT", "NaN"),
        ("CAST('inf' AS FLOAT64)", "FLOAT", "Infinity"),
        ("[1, 2]", "INTEGER", [{"v": "1"}, {"v": "2"}]),
        ("STRUCT(1 AS a)", "RECORD", {"f": [{"v": "1"}]}),
        ("INTERVAL 1 DAY", "INTERVAL", "0-0 1 0:0:0"),
        ("CAST(NULL AS STRING)", "STRING", None),
    ]
    for sql, want_type, want_value in expressions:
        r = query(bq, f"SELECT {sql} AS c")
        body = r.json()
        fields = body.get("schema", {}).get("fields", [{}])
        got = (fields[0].get("type") if fields else None, (rows_of(body) or [[None]])[0][0])
        REPORT.expect(f"SELECT {sql}", got, (want_type, want_value))


def bq_query_options(bq):
    REPORT.section("BigQuery jobs.query options, errors and encodings")
    r = query(bq, "SELECEKT 1")
    REPORT.expect("syntax error: HTTP status", r.status, 400)
    REPORT("info", "  body", r.body[:250].decode(errors="replace"))
    r = query(bq, f"SELECT * FROM {DATASET}.no_such_table")
    REPORT.expect("unknown table: HTTP status", r.status, 404)
    r = query(bq, "SELECT TIMESTAMP '2024-01-02 03:04:05 UTC'",
              formatOptions={"useInt64Timestamp": True})
    REPORT.expect("formatOptions.useInt64Timestamp=true", rows_of(r.json()),
                  [["1704164645000000"]])
    body = gzip.compress(json.dumps({"query": "SELECT 1", "useLegacySql": False}).encode())
    r = bq.request("POST", f"{BQ}/queries", body,
                   {"Content-Encoding": "gzip", "Content-Type": "application/json"})
    REPORT.expect("gzip-compressed jobs.query body", (r.status, rows_of(r.json())), (200, [["1"]]))
    r = query(bq, "SELECT 1", someUnknownField=True, labels={"a": "b"}, requestId="r1",
              location="US", useQueryCache=False, dryRun=False)
    REPORT.expect("unknown and optional request fields", (r.status, rows_of(r.json())),
                  (200, [["1"]]))
    r = query(bq, "SELECT @x + 1, @s", parameterMode="NAMED", queryParameters=[
        {"name": "x", "parameterType": {"type": "INT64"}, "parameterValue": {"value": "41"}},
        {"name": "s", "parameterType": {"type": "STRING"}, "parameterValue": {"value": "hi"}}])
    REPORT.expect("named query parameters", rows_of(r.json()), [["42", "hi"]])
    default = {"projectId": PROJECT, "datasetId": DATASET}
    r = query(bq, "SELECT COUNT(*) FROM numbers", defaultDataset=default)
    REPORT.expect("jobs.query with defaultDataset", rows_of(r.json()), [["5"]])
    REPORT("info", "  errors", json.dumps(r.json().get("errors"))[:150])
    job = {"configuration": {"query": {"query": "SELECT COUNT(*) FROM numbers",
                                       "useLegacySql": False, "defaultDataset": default}}}
    job_id = bq.request("POST", f"{BQ}/jobs", job).json().get("jobReference", {}).get("jobId")
    r = bq.request("GET", f"{BQ}/queries/{job_id}")
    REPORT.expect("jobs.insert query job with defaultDataset", rows_of(r.json()), [["5"]])
    r = query(bq, f"INSERT INTO {DATASET}.numbers (n) VALUES (10), (11)")
    REPORT.expect("DML: numDmlAffectedRows", r.json().get("numDmlAffectedRows"), "2")
    query(bq, f"DELETE FROM {DATASET}.numbers WHERE n >= 10")
    r = query(bq, "SELECT 1", dryRun=True)
    REPORT("info", "dryRun answer keys", ", ".join(sorted(r.json())))
    r = query(bq, "SELECT 1", useLegacySql=True)
    REPORT("info", "useLegacySql=true", f"HTTP {r.status}, rows {rows_of(r.json())}")


def wait_job(bq, job_id):
    for _ in range(100):
        job = bq.request("GET", f"{BQ}/jobs/{job_id}").json()
        if job.get("status", {}).get("state") == "DONE":
            return job
        time.sleep(0.1)
    return job


def bq_jobs(bq):
    REPORT.section("BigQuery jobs.insert")
    dest = {"projectId": PROJECT, "datasetId": DATASET, "tableId": "from_job"}
    job = {"jobReference": {"projectId": PROJECT, "jobId": "probe-query-job"},
           "configuration": {"query": {
               "query": f"SELECT n FROM {DATASET}.numbers WHERE n < 3", "useLegacySql": False,
               "destinationTable": dest, "writeDisposition": "WRITE_TRUNCATE",
               "createDisposition": "CREATE_IF_NEEDED"}}}
    r = bq.request("POST", f"{BQ}/jobs", job)
    REPORT.expect("query job with destinationTable", r.status, 200, "FAIL")
    done = wait_job(bq, "probe-query-job")
    REPORT.expect("  jobs.get state", done.get("status", {}).get("state"), "DONE")
    REPORT("info", "  statistics", json.dumps(done.get("statistics", {}))[:250])
    r = bq.request("GET", f"{BQ}/queries/probe-query-job")
    REPORT.expect("  getQueryResults of the job", sorted(v for [v] in rows_of(r.json())),
                  ["0", "1", "2"])
    r = bq.request("GET", f"{BQ}/datasets/{DATASET}/tables/from_job/data")
    REPORT.expect("  destination table written", r.status, 200)
    REPORT.expect("same jobId again", bq.request("POST", f"{BQ}/jobs", job).status, 409)
    bad = {"configuration": {"query": {"query": "SELECEKT 1", "useLegacySql": False}}}
    r = bq.request("POST", f"{BQ}/jobs", bad)
    status = r.json().get("status", {})
    REPORT("info", "failing query job", f"HTTP {r.status}, state {status.get('state')}, "
           f"errorResult {json.dumps(status.get('errorResult'))[:120]}")
    r = query(bq, f"CREATE OR REPLACE TABLE {DATASET}.ctas AS SELECT n FROM {DATASET}.numbers")
    r = bq.request("GET", f"{BQ}/datasets/{DATASET}/tables/ctas")
    REPORT.expect("CREATE OR REPLACE TABLE ... AS SELECT, then tables.get",
                  (r.status, r.json().get("numRows")), (200, "5"))


def extract_job(uri):
    return {"configuration": {"extract": {
        "sourceTable": {"projectId": PROJECT, "datasetId": DATASET, "tableId": "loaded"},
        "destinationUris": [uri], "destinationFormat": "CSV"}}}


def bq_load_extract(workdir):
    """Load/extract jobs between the two emulators: fake-gcs on a filesystem backend and
    bqemulator reading gs:// URIs from the same folder (emulators.py bq --gcs-root)."""
    REPORT.section("BigQuery load/extract jobs with gs:// URIs (gcs --data-dir = bq --gcs-root)")
    root = workdir / "gcs-data"
    root.mkdir()
    gcs_launcher = Launcher(workdir, "gcs", "--data-dir", str(root))
    bq_launcher = Launcher(workdir, "bq", "--project", PROJECT, "--dataset", DATASET,
                           "--gcs-root", str(root))
    try:
        gcs = Client(gcs_launcher.port, RUST_STORAGE_HEADERS)
        bq = Client(bq_launcher.port, RUST_BQ_HEADERS)
        gcs.request("POST", f"/storage/v1/b?project={PROJECT}", {"name": BUCKET})
        upload_multipart(gcs, "load/part-1.csv", b"id,name\n1,a\n2,b\n")
        upload_multipart(gcs, "load/part-2.csv", b"id,name\n3,c\n")
        load = {"configuration": {"load": {
            "sourceUris": [f"gs://{BUCKET}/load/part-*.csv"], "sourceFormat": "CSV",
            "skipLeadingRows": 1, "writeDisposition": "WRITE_TRUNCATE",
            "destinationTable": {"projectId": PROJECT, "datasetId": DATASET, "tableId": "loaded"},
            "schema": {"fields": [field("id", "INTEGER"), field("name", "STRING")]}}}}
        r = bq.request("POST", f"{BQ}/jobs", load)
        state = r.json().get("status", {})
        REPORT.expect("load job CSV from gs://B/load/part-*.csv",
                      (r.status, state.get("state"), state.get("errorResult")),
                      (200, "DONE", None), "FAIL")
        count = rows_of(query(bq, f"SELECT COUNT(*) FROM {DATASET}.loaded").json())
        REPORT.expect("  rows loaded", count, [["3"]], "FAIL")
        extracted = root / BUCKET / "load" / "extracted.csv"
        r = bq.request("POST", f"{BQ}/jobs", extract_job(f"gs://{BUCKET}/load/extracted.csv"))
        REPORT.expect("extract job to gs://B/load/extracted.csv (folder exists)",
                      (r.json().get("status", {}).get("state"), extracted.exists()), ("DONE", True))
        r = download(gcs, "load/extracted.csv")
        REPORT.expect("  extracted file readable through fake-gcs", r.status, 200)
        r = gcs.request("GET", f"/storage/v1/b/{BUCKET}/o?prefix=load/")
        REPORT.expect("  fake-gcs list of that folder afterwards", r.status, 200)
        r = bq.request("POST", f"{BQ}/jobs", extract_job(f"gs://{BUCKET}/new/extracted.csv"))
        REPORT.expect("extract job to a folder that does not exist yet", r.status, 200)
        REPORT("info", "  answer", r.body[:120].decode(errors="replace"))
    finally:
        bq_launcher.stop()
        gcs_launcher.stop()


def probe_bq(workdir):
    started = Launcher(workdir, "bq", "--project", PROJECT, "--dataset", DATASET)
    REPORT("info", "bq startup (launcher start to port file)", f"{started.startup_s:.2f}s")
    REPORT("info", "bq memory after startup", f"{started.rss_mib():.0f} MiB RSS")
    bq = Client(started.port, RUST_BQ_HEADERS)
    try:
        bq_datasets(bq)
        bq_tables(bq)
        bq_insert_all(bq)
        bq_values(bq)
        bq_tabledata_pages(bq)
        bq_query_pages(bq)
        bq_query_types(bq)
        bq_query_options(bq)
        bq_jobs(bq)
        REPORT("info", "bq memory at the end", f"{started.rss_mib():.0f} MiB RSS")
    finally:
        started.stop()
    bq_load_extract(workdir)


def main(argv):
    wanted = set(argv) or {"gcs", "bq"}
    with tempfile.TemporaryDirectory(prefix="probe-emulators-") as workdir:
        if "gcs" in wanted:
            probe_gcs(Path(workdir))
        if "bq" in wanted:
            probe_bq(Path(workdir))
    print("\n" + ", ".join(f"{n} {v}" for v, n in sorted(REPORT.counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
