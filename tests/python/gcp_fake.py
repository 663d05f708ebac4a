"""Loopback fake of the Google Cloud APIs the Rust integration tests talk to.

Google's Rust clients (google-cloud-aiplatform-v1, google-cloud-monitoring-v3, google-cloud-storage,
google-cloud-auth) and gcp-bigquery-client are pointed at this process with
`with_endpoint("http://127.0.0.1:PORT")`. Vertex AI and Cloud Monitoring have no emulator, so they
are implemented here; Cloud Storage and BigQuery have emulators (fake-gcs-server, bqemulator, run
by someone else), so their requests are validated here and forwarded. Every request is matched to
its method in Google's discovery document (shipped in google-api-python-client, loaded at run time)
and checked against it: a request the real API would reject must fail here too, loudly (400, and
recorded as a violation).

Usage:
  gcp_fake.py serve [--port 0] [--port-file FILE] [--gcs-upstream URL] [--bq-upstream URL]
                    [--lro-polls N] [--job-polls N] [--require-auth] [--project ID]

  --port-file receives the port once the server listens (written atomically). One line per request
  goes to stderr. SIGTERM/SIGINT stop the server cleanly. --lro-polls N: a long-running operation
  is done at its N-th GET (0: done at once). --job-polls N: a pipeline job moves on one state
  (PENDING, RUNNING, SUCCEEDED) every N GETs. --require-auth: API calls need a token from /token
  or the metadata server, or a self-signed JWT of a registered key.

From a test: run `python gcp_fake.py serve --port-file DIR/port ...`, wait until DIR/port
exists, read the port from it, point the clients at http://127.0.0.1:PORT (and
GCE_METADATA_HOST=127.0.0.1:PORT); at the end check GET /_fake/violations, then SIGTERM.

Encodings: Google's Rust clients send `$alt=json;enum-encoding=int` and write enums as proto
numbers. Enums are accepted as names, and as numbers only when the request's $alt asks for
enum-encoding=int; answers use names (the clients read both). int64/uint64 fields are JSON
strings in Google's JSON mapping; a JSON number is accepted, as Google's parser does, with a note.

Routes (all on 127.0.0.1:PORT):
  /v1/...                        Vertex AI (aiplatform v1)
  /v3/...                        Cloud Monitoring (monitoring v3)
  /storage/v1/..., /upload/storage/v1/..., /download/storage/v1/...  -> --gcs-upstream
  /bigquery/v2/..., /upload/bigquery/v2/...                          -> --bq-upstream
  POST /token                    OAuth2 token endpoint (JWT-bearer grant)
  GET /, /computeMetadata/v1/... GCE metadata server (GCE_METADATA_HOST=127.0.0.1:PORT)
  /_fake/...                     control API (not Google's):
    GET  /_fake/requests         every request seen (method, path, query, headers of interest,
                                 parsed body, api, discovery method id, violations, notes, status)
    GET  /_fake/violations       {"violations": [...], "notes": [...], "fake_errors": [...]}
                                 (fake_errors: the fake's own failures, or a method it lacks)
    POST /_fake/reset            forget resources, requests and faults (keys and tokens stay)
    POST /_fake/faults           {"match": REGEX on "METHOD /path", "responses": [{"status": 429},
                                 {"delay_s": 2}, {"raw": "not json{", "status": 200},
                                 {"status": 403, "body": {...}, "headers": {...}}]}
    GET  /_fake/faults           faults not yet consumed
    POST /_fake/jobs/{id}/fail   the pipeline job's next state change ends in FAILED
                                 (optional body {"task": "train", "message": "..."})
    GET  /_fake/state            every stored resource
    POST /_fake/keys             register a service-account JSON key (its public half verifies
                                 JWTs at /token and self-signed JWTs at the APIs)
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
import http.client
import importlib
import itertools
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

import googleapiclient
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.dont_write_bytecode = True  # no __pycache__ in the repository tree for kfp_ir


def kfp_ir():
    """The suite's strict KFP IR check (tests/python/kfp_ir.py, next to this file). It imports
    the kfp SDK, which takes a second or two, so the server starts loading it in the background
    once it listens; the first pipeline job waits for it if it has to."""
    return importlib.import_module("kfp_ir")


# --------------------------------------------------------------------------------------------
# Discovery documents

DOCUMENTS = Path(googleapiclient.__file__).resolve().parent / "discovery_cache" / "documents"
API_FILES = {
    "aiplatform": "aiplatform.v1.json",
    "monitoring": "monitoring.v3.json",
    "storage": "storage.v1.json",
    "bigquery": "bigquery.v2.json",
}
# gRPC services exposed through Google's HTTP/JSON transcoding: a request body is one field of the
# request message (`pipeline_job`) or all of it, and error texts name fields in proto form.
TRANSCODED = {"aiplatform", "monitoring"}
PLACEHOLDER = re.compile(r"\{(\+?)([^}]+)\}")
WILDCARDS = re.compile(r"\[\^/\]\+|\.\*|\.\+|\\")


@dataclass
class Route:
    """One URL a discovery method answers on (media uploads and downloads have their own)."""

    method: dict
    http_method: str
    regex: re.Pattern
    groups: dict[str, str]  # regex group -> path parameter
    literal: int  # fixed characters in the template: the most specific match wins
    media: str  # "", "upload" or "download"


def route_for(method: dict, template: str, media: str) -> Route:
    """Compile a URI template; `{+name}` uses the parameter's own pattern when the document has
    one, so `v1/{+name}:cancel` and `v1/{+name}` can be told apart by their fixed text."""
    parts, groups, literal, pos = [], {}, 0, 0
    for i, m in enumerate(PLACEHOLDER.finditer(template)):
        fixed = template[pos : m.start()]
        parts.append(re.escape(fixed))
        literal += len(fixed)
        name = m.group(2)
        pattern = method.get("parameters", {}).get(name, {}).get("pattern")
        if pattern:
            body = pattern.removeprefix("^").removesuffix("$")
            literal += len(WILDCARDS.sub("", body))
        else:
            body = ".+" if m.group(1) else "[^/]+"
        parts.append(f"(?P<p{i}>{body})")
        groups[f"p{i}"] = name
        pos = m.end()
    parts.append(re.escape(template[pos:]))
    literal += len(template) - pos
    return Route(method, method["httpMethod"], re.compile("".join(parts)), groups, literal, media)


def methods_of(resource: dict) -> Iterator[dict]:
    yield from resource.get("methods", {}).values()
    for sub in resource.get("resources", {}).values():
        yield from methods_of(sub)


class Api:
    """One discovery document: its routes, schemas and system parameters."""

    def __init__(self, name: str, filename: str):
        self.name = name
        self.doc = json.loads((DOCUMENTS / filename).read_text(encoding="utf-8"))
        self.schemas: dict[str, dict] = self.doc["schemas"]
        self.host = urlsplit(self.doc["rootUrl"]).hostname
        self.transcoded = name in TRANSCODED
        self.routes = [r for m in methods_of(self.doc) for r in self._routes(m)]

    def _routes(self, method: dict) -> Iterator[Route]:
        """The method's URL, its media upload URLs and its media download URL."""
        base = "/" + self.doc["servicePath"]
        yield route_for(method, base + method["path"], "")
        uploads = {p["path"] for p in method.get("mediaUpload", {}).get("protocols", {}).values()}
        for path in sorted(uploads):
            yield route_for(method, path, "upload")
        if method.get("useMediaDownloadService"):
            yield route_for(method, "/download" + base + method["path"], "download")

    def match(self, http_method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The method for this request, and its path parameters (percent-decoded)."""
        found = [
            (route, m)
            for route in self.routes
            if route.http_method == http_method and (m := route.regex.fullmatch(path))
        ]
        if not found:
            return None
        route, m = max(found, key=lambda f: f[0].literal)
        return route, {route.groups[g]: unquote(v) for g, v in m.groupdict().items()}

    def body_root(self, route: Route) -> tuple[str, ...]:
        """Where the body sits in the request message, for field paths: a transcoded method whose
        body is a resource (`PipelineJob`) puts it in a field (`pipelineJob`); a body that is the
        whole request message (`...Request`) or a plain JSON API body sits at the root."""
        ref = route.method.get("request", {}).get("$ref", "")
        if not self.transcoded or ref.endswith("Request"):
            return ()
        short = re.sub(r"^Google(?:Cloud)?[A-Z][a-z]+V\d+(?:alpha|beta)?\d*", "", ref)
        return (short[:1].lower() + short[1:],)


# --------------------------------------------------------------------------------------------
# Enum numbers

# Google's Rust clients send `$alt=json;enum-encoding=int` and write enums as their proto numbers.
# The discovery document lists enum names only; a number is the name's position in that list
# except for these enums, whose proto numbers are not in declaration order. Taken from the
# value()/name() tables generated into google-cloud-aiplatform-v1 1.18 and
# google-cloud-monitoring-v3 1.14 (and google-cloud-api / -rpc) from the protos; an enum is
# recognised by its set of names.
ENUM_NUMBERS: list[dict[str, int]] = [
    {"ADAPTER_SIZE_UNSPECIFIED": 0, "ADAPTER_SIZE_ONE": 1, "ADAPTER_SIZE_TWO": 6,
     "ADAPTER_SIZE_FOUR": 2, "ADAPTER_SIZE_EIGHT": 3, "ADAPTER_SIZE_SIXTEEN": 4,
     "ADAPTER_SIZE_THIRTY_TWO": 5},
    {"IDENTITY_TYPE_UNSPECIFIED": 0, "SERVICE_ACCOUNT": 2, "AGENT_IDENTITY": 3},
    {"ALIGN_NONE": 0, "ALIGN_DELTA": 1, "ALIGN_RATE": 2, "ALIGN_INTERPOLATE": 3,
     "ALIGN_NEXT_OLDER": 4, "ALIGN_MIN": 10, "ALIGN_MAX": 11, "ALIGN_MEAN": 12, "ALIGN_COUNT": 13,
     "ALIGN_SUM": 14, "ALIGN_STDDEV": 15, "ALIGN_COUNT_TRUE": 16, "ALIGN_COUNT_FALSE": 24,
     "ALIGN_FRACTION_TRUE": 17, "ALIGN_PERCENTILE_99": 18, "ALIGN_PERCENTILE_95": 19,
     "ALIGN_PERCENTILE_50": 20, "ALIGN_PERCENTILE_05": 21, "ALIGN_PERCENT_CHANGE": 23},
    {"MODE_UNSPECIFIED": 0, "AUTO": 1, "ANY": 2, "NONE": 3, "VALIDATED": 5},
    {"PHISH_BLOCK_THRESHOLD_UNSPECIFIED": 0, "BLOCK_LOW_AND_ABOVE": 30,
     "BLOCK_MEDIUM_AND_ABOVE": 40, "BLOCK_HIGH_AND_ABOVE": 50, "BLOCK_HIGHER_AND_ABOVE": 55,
     "BLOCK_VERY_HIGH_AND_ABOVE": 60, "BLOCK_ONLY_EXTREMELY_HIGH": 100},
    {"VALUE_TYPE_UNSPECIFIED": 0, "BOOL": 1, "BOOL_ARRAY": 2, "DOUBLE": 3, "DOUBLE_ARRAY": 4,
     "INT64": 9, "INT64_ARRAY": 10, "STRING": 11, "STRING_ARRAY": 12, "BYTES": 13, "STRUCT": 14},
    {"UNSPECIFIED": 0, "RETRIEVAL_QUERY": 2, "RETRIEVAL_DOCUMENT": 3, "SEMANTIC_SIMILARITY": 4,
     "CLASSIFICATION": 5, "CLUSTERING": 6, "QUESTION_ANSWERING": 7, "FACT_VERIFICATION": 8,
     "CODE_RETRIEVAL_QUERY": 9},
    {"COMET_VERSION_UNSPECIFIED": 0, "COMET_22_SRC_REF": 2},
    {"EXPORT_USE_UNSPECIFIED": 0, "CUSTOM_CODE_TRAINING": 6},
    {"RUNTIME_STATE_UNSPECIFIED": 0, "RUNNING": 1, "BEING_STARTED": 2, "BEING_STOPPED": 3,
     "STOPPED": 4, "BEING_UPGRADED": 5, "ERROR": 100, "INVALID": 101},
    {"STATE_UNSPECIFIED": 0, "PROVISIONING": 1, "RUNNING": 3, "STOPPING": 4, "ERROR": 5,
     "REBOOTING": 6, "UPDATING": 7},
    {"DEPLOYMENT_STAGE_UNSPECIFIED": 0, "STARTING_DEPLOYMENT": 5, "PREPARING_MODEL": 6,
     "CREATING_SERVING_CLUSTER": 7, "ADDING_NODES_TO_CLUSTER": 8, "GETTING_CONTAINER_IMAGE": 9,
     "STARTING_MODEL_SERVER": 3, "FINISHING_UP": 4, "DEPLOYMENT_TERMINATED": 10,
     "SUCCESSFULLY_DEPLOYED": 11, "FAILED_TO_DEPLOY": 12},
    {"VIEW_UNSPECIFIED": 0, "FULL": 2, "EXPLICIT": 1},
    {"LAUNCH_STAGE_UNSPECIFIED": 0, "UNIMPLEMENTED": 6, "PRELAUNCH": 7, "EARLY_ACCESS": 1,
     "ALPHA": 2, "BETA": 3, "GA": 4, "DEPRECATED": 5},
    {"ALGORITHM_UNSPECIFIED": 0, "GRID_SEARCH": 2, "RANDOM_SEARCH": 3},
    {"PREDICTION_FORMAT_UNSPECIFIED": 0, "JSONL": 2, "BIGQUERY": 3},
    {"OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4,
     "NOT_FOUND": 5, "ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "UNAUTHENTICATED": 16,
     "RESOURCE_EXHAUSTED": 8, "FAILED_PRECONDITION": 9, "ABORTED": 10, "OUT_OF_RANGE": 11,
     "UNIMPLEMENTED": 12, "INTERNAL": 13, "UNAVAILABLE": 14, "DATA_LOSS": 15},
    {"NOTIFICATION_PROMPT_UNSPECIFIED": 0, "OPENED": 1, "CLOSED": 3},
    {"COLOR_MAP_UNSPECIFIED": 0, "PINK_GREEN": 1, "VIRIDIS": 2, "RED": 3, "GREEN": 4,
     "RED_GREEN": 6, "PINK_WHITE_GREEN": 5},
    {"REDUCE_NONE": 0, "REDUCE_MEAN": 1, "REDUCE_MIN": 2, "REDUCE_MAX": 3, "REDUCE_SUM": 4,
     "REDUCE_STDDEV": 5, "REDUCE_COUNT": 6, "REDUCE_COUNT_TRUE": 7, "REDUCE_COUNT_FALSE": 15,
     "REDUCE_FRACTION_TRUE": 8, "REDUCE_PERCENTILE_99": 9, "REDUCE_PERCENTILE_95": 10,
     "REDUCE_PERCENTILE_50": 11, "REDUCE_PERCENTILE_05": 12},
    {"STRATEGY_UNSPECIFIED": 0, "ON_DEMAND": 1, "LOW_COST": 2, "STANDARD": 3, "SPOT": 4,
     "FLEX_START": 6},
    {"STATUS_CLASS_UNSPECIFIED": 0, "STATUS_CLASS_1XX": 100, "STATUS_CLASS_2XX": 200,
     "STATUS_CLASS_3XX": 300, "STATUS_CLASS_4XX": 400, "STATUS_CLASS_5XX": 500,
     "STATUS_CLASS_ANY": 1000},
    {"DEPLOYMENT_TIER_UNSPECIFIED": 0, "STORAGE": 2},
    {"ACCELERATOR_TYPE_UNSPECIFIED": 0, "NVIDIA_TESLA_K80": 1, "NVIDIA_TESLA_P100": 2,
     "NVIDIA_TESLA_V100": 3, "NVIDIA_TESLA_P4": 4, "NVIDIA_TESLA_T4": 5, "NVIDIA_TESLA_A100": 8,
     "NVIDIA_A100_80GB": 9, "NVIDIA_L4": 11, "NVIDIA_H100_80GB": 13, "NVIDIA_H100_MEGA_80GB": 14,
     "NVIDIA_H200_141GB": 15, "NVIDIA_B200": 16, "NVIDIA_GB200": 17, "NVIDIA_RTX_PRO_6000": 18,
     "TPU_V2": 6, "TPU_V3": 7, "TPU_V4_POD": 10, "TPU_V5_LITEPOD": 12},
    {"CHECKER_TYPE_UNSPECIFIED": 0, "STATIC_IP_CHECKERS": 1, "VPC_CHECKERS": 3},
]  # fmt: skip
NUMBERINGS = {frozenset(numbers): numbers for numbers in ENUM_NUMBERS}


def enum_name(names: list[str], number: int) -> str | None:
    """The enum name for a proto number, or None if the enum has no such number."""
    numbering = NUMBERINGS.get(frozenset(names))
    if numbering:
        return next((n for n, v in numbering.items() if v == number), None)
    return names[number] if 0 <= number < len(names) else None


# --------------------------------------------------------------------------------------------
# Errors

# google.rpc.Code names for HTTP statuses, and Google's generic messages for them.
STATUS_OF_HTTP = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
GENERIC_MESSAGES = {
    "INVALID_ARGUMENT": "Request contains an invalid argument.",
    "UNAUTHENTICATED": "Request had invalid authentication credentials.",
    "PERMISSION_DENIED": "The caller does not have permission",
    "NOT_FOUND": "Requested entity was not found.",
    "ALREADY_EXISTS": "Requested entity already exists",
    "RESOURCE_EXHAUSTED": "Resource has been exhausted (e.g. check quota).",
    "INTERNAL": "Internal error encountered.",
    "UNIMPLEMENTED": "Operation is not implemented, or supported, or enabled.",
    "UNAVAILABLE": "The service is currently unavailable.",
    "DEADLINE_EXCEEDED": "Deadline expired before operation could complete.",
}
# google.rpc.Code numbers, for Status messages inside operations and job errors.
RPC_CODES = {"INVALID_ARGUMENT": 3, "FAILED_PRECONDITION": 9}
# The `reason` of the v1 JSON error format that Cloud Storage and BigQuery still send.
LEGACY_REASONS = {
    400: "invalid",
    401: "required",
    403: "forbidden",
    404: "notFound",
    409: "conflict",
    429: "rateLimitExceeded",
}


class ApiError(Exception):
    """An error answer in Google's shape: {"error": {"code", "message", "status", "details"}}."""

    def __init__(self, code: int, status: str, message: str, details: list | None = None):
        super().__init__(message)
        self.code, self.status, self.message, self.details = code, status, message, details or []

    def body(self, api: str = "") -> dict:
        """The error body; Cloud Storage and BigQuery add the older `errors` list."""
        error = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        if api in ("storage", "bigquery"):
            reason = LEGACY_REASONS.get(self.code, "backendError")
            error["errors"] = [{"message": self.message, "domain": "global", "reason": reason}]
        return {"error": error}


def error_for_status(code: int) -> ApiError:
    """Google's generic error for an HTTP status (a fault with only a status)."""
    status = STATUS_OF_HTTP.get(code, "UNKNOWN")
    return ApiError(code, status, GENERIC_MESSAGES.get(status, "Unknown error."))


def invalid(message: str, details: list | None = None) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message, details)


def failed_precondition(message: str) -> ApiError:
    return ApiError(400, "FAILED_PRECONDITION", message)


def not_found(kind: str, name: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"The {kind} {name} does not exist.")


def already_exists(kind: str, name: str) -> ApiError:
    return ApiError(409, "ALREADY_EXISTS", f"The {kind} {name} already exists.")


def bad_request(*violations: tuple[str, str]) -> dict:
    """A google.rpc.BadRequest detail: (field, description) pairs."""
    return {
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [{"field": f, "description": d} for f, d in violations],
    }


def missing_fields(*fields: str) -> ApiError:
    """Vertex AI's wording for unset required fields (named in proto form: model.display_name)."""
    listed = "".join(
        f"{i}.Field: {f}; Message: Required field is not set.\t" for i, f in enumerate(fields, 1)
    )
    details = [bad_request(*[(f, "Required field is not set.") for f in fields])]
    return invalid(f"List of found errors:\t{listed}", details)


# --------------------------------------------------------------------------------------------
# Validation against the discovery document


def camel_to_snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def snake_to_camel(name: str) -> str:
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name)


@dataclass(frozen=True)
class FieldPath:
    """Where a value sits in a request: rendered as JSON (`timeSeries[0].points`) for the fake's
    own records and in proto form (`time_series[0].points`) for Google's error texts."""

    parts: tuple[tuple[str, str], ...] = ()  # ("field", name) | ("index", "3") | ("key", k)

    def field(self, name: str) -> FieldPath:
        return FieldPath((*self.parts, ("field", name)))

    def index(self, i: int) -> FieldPath:
        return FieldPath((*self.parts, ("index", str(i))))

    def key(self, key: str) -> FieldPath:
        return FieldPath((*self.parts, ("key", key)))

    def render(self, proto: bool = False) -> str:
        """The path as JSON (camelCase) or proto (snake_case) field names."""
        out = ""
        for kind, text in self.parts:
            if kind == "field":
                out += ("." if out else "") + (camel_to_snake(text) if proto else text)
            else:
                out += f"[{text}]"
        return out


@dataclass
class Issue:
    """A violation (the request is wrong: answered 400) or a note (accepted, but worth a look)."""

    field: str  # JSON path in the request, e.g. pipelineJob.runtimeConfig.parameterValuez
    message: str  # Google's wording where known

    def as_dict(self) -> dict:
        return {"field": self.field, "message": self.message}


class JsonObject(dict):
    """A parsed JSON object that remembers keys given twice (Google's parser rejects them)."""

    duplicates: tuple[str, ...] = ()


class JsonError(ValueError):
    """A body that is not JSON (message in Google's words)."""


def parse_json(raw: bytes) -> Any:
    """JSON as Google's parser reads it: no duplicate keys, no NaN/Infinity literals."""

    def pairs(items):
        obj = JsonObject(items)
        counts = Counter(k for k, _ in items)
        obj.duplicates = tuple(sorted(k for k, n in counts.items() if n > 1))
        return obj

    def constant(name):
        raise JsonError(f"Invalid JSON payload received. Unexpected token.\n{name}")

    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=pairs, parse_constant=constant)
    except UnicodeDecodeError:
        raise JsonError("Invalid JSON payload received. Invalid UTF-8.") from None
    except json.JSONDecodeError as e:
        raise JsonError(f"Invalid JSON payload received. Unexpected token.\n{e.msg}") from None


RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})"
)
DURATION = re.compile(r"-?\d+(\.\d{1,9})?s")
BASE64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")
INT_RANGES = {
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}
PROTO_TYPES = {
    "int32": "TYPE_INT32",
    "uint32": "TYPE_UINT32",
    "int64": "TYPE_INT64",
    "uint64": "TYPE_UINT64",
    "double": "TYPE_DOUBLE",
    "float": "TYPE_FLOAT",
    "byte": "TYPE_BYTES",
    "google-datetime": "type.googleapis.com/google.protobuf.Timestamp",
    "google-duration": "type.googleapis.com/google.protobuf.Duration",
}
FLOAT_WORDS = ("NaN", "Infinity", "-Infinity")


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp (nanoseconds allowed); ValueError if it is not one."""
    m = RFC3339.fullmatch(text)
    if not m:
        raise ValueError(text)
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    micros = int((m.group(7) or "0")[:6].ljust(6, "0"))
    zone = m.group(8).upper()
    offset = timedelta(0)
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        offset = sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    return datetime(year, month, day, hour, minute, second, micros, timezone(offset))


def valid_time(text: str) -> bool:
    try:
        parse_time(text)
        return True
    except ValueError:
        return False


def valid_base64(text: str) -> bool:
    """Google accepts standard and URL-safe base64, padded or not."""
    return bool(BASE64.fullmatch(text)) and len(text.rstrip("=")) % 4 != 1


def valid_date(text: str) -> bool:
    """YYYY-MM-DD, and a real date."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return False
    try:
        datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 100 else text[:97] + "..."


class Checker:
    """Checks JSON against a discovery schema the way Google's JSON/proto transcoder reads it, and
    returns it normalised for storage (enum numbers as names, int64 numbers as strings, nulls
    dropped). Violations fail the request; notes are kept for the record."""

    def __init__(self, api: Api, int_enums: bool):
        self.api = api
        self.int_enums = int_enums
        self.violations: list[Issue] = []
        self.notes: list[Issue] = []

    def violation(self, path: FieldPath, message: str) -> None:
        self.violations.append(Issue(path.render(), message))

    def bad_value(self, path: FieldPath, kind: str, value: Any) -> None:
        self.violation(
            path, f"Invalid value at '{path.render(proto=True)}' ({kind}), {shown(value)}"
        )

    def check(self, schema: dict, value: Any, path: FieldPath) -> Any:
        """Dispatch on the schema's type; null means "default" in proto3 JSON, so it passes."""
        if "$ref" in schema:
            schema = self.api.schemas[schema["$ref"]]
        kind = schema.get("type")
        if value is None or kind == "any":
            return value
        if kind == "object":
            return self.check_object(schema, value, path)
        if kind == "array":
            if not isinstance(value, list):
                self.bad_value(path, "TYPE_LIST", value)
                return value
            return [self.check(schema["items"], v, path.index(i)) for i, v in enumerate(value)]
        if "enum" in schema:
            return self.check_enum(schema["enum"], value, path)
        return self.check_scalar(kind, schema.get("format"), value, path)

    def check_object(self, schema: dict, value: Any, path: FieldPath) -> Any:
        """Known fields only (proto names accepted with a note); maps check their values."""
        if not isinstance(value, dict):
            self.bad_value(path, "TYPE_MESSAGE", value)
            return value
        props, extra = schema.get("properties"), schema.get("additionalProperties")
        if props is None and extra is None:
            return value  # a free-form object
        for key in getattr(value, "duplicates", ()):
            self.violation(
                path.field(key), f'Invalid JSON payload received. Duplicate key "{key}".'
            )
        out = {}
        for key, sub in value.items():
            if props is not None and key in props:
                out[key] = self.check(props[key], sub, path.field(key))
            elif props is not None and snake_to_camel(key) in props:
                # Google's parser also takes the proto field name; our clients should not need to.
                camel = snake_to_camel(key)
                self.notes.append(Issue(path.field(key).render(), f"proto name for `{camel}`"))
                out[camel] = self.check(props[camel], sub, path.field(camel))
            elif extra is not None:
                out[key] = self.check(extra, sub, path.key(key))
            else:
                where = path.render(proto=True)
                at = f" at '{where}'" if where else ""
                self.violation(
                    path.field(key),
                    f'Invalid JSON payload received. Unknown name "{key}"{at}: Cannot find field.',
                )
        return {k: v for k, v in out.items() if v is not None}

    def check_enum(self, names: list[str], value: Any, path: FieldPath) -> Any:
        """A name, or a number when the request asked for enum-encoding=int."""
        if isinstance(value, str) and value in names:
            return value
        if is_integer(value) and self.int_enums:
            name = enum_name(names, value)
            if name is not None:
                return name
        suffix = ""
        if is_integer(value) and not self.int_enums:
            suffix = " (an enum as a number needs $alt=json;enum-encoding=int)"
        self.violation(
            path,
            f"Invalid value at '{path.render(proto=True)}' (TYPE_ENUM), {shown(value)}{suffix}",
        )
        return value

    def check_scalar(self, kind: str | None, fmt: str | None, value: Any, path: FieldPath) -> Any:
        """JSON type and string format (timestamps, durations, base64, dates)."""
        if kind == "boolean":
            ok = isinstance(value, bool)
        elif kind == "integer":
            return self.check_integer(fmt or "int32", value, path)
        elif kind == "number":
            ok = is_number(value) or value in FLOAT_WORDS
        elif fmt in ("int64", "uint64"):
            return self.check_integer(fmt, value, path)
        elif not isinstance(value, str):
            ok = False
        elif fmt in ("google-datetime", "date-time"):
            ok = valid_time(value)
        elif fmt == "google-duration":
            ok = bool(DURATION.fullmatch(value))
        elif fmt == "byte":
            ok = valid_base64(value)
        elif fmt == "date":
            ok = valid_date(value)
        else:
            ok = True
        if not ok:
            self.bad_value(path, PROTO_TYPES.get(fmt or "", f"TYPE_{(kind or '').upper()}"), value)
        return value

    def check_integer(self, fmt: str, value: Any, path: FieldPath, in_query: bool = False) -> Any:
        """int32 is a JSON number and int64 a JSON string in Google's JSON mapping; Google's
        parser takes either form for both, so the other one is accepted with a note."""
        lo, hi = INT_RANGES.get(fmt, INT_RANGES["int64"])
        as_text = isinstance(value, str) and re.fullmatch(r"-?\d+", value) is not None
        if not (is_integer(value) or as_text) or not lo <= int(value) <= hi:
            self.bad_value(path, PROTO_TYPES.get(fmt, "TYPE_INT64"), value)
            return value
        wide = fmt in ("int64", "uint64")
        if as_text != wide and not in_query:
            form = "string" if as_text else "number, not a string"
            self.notes.append(Issue(path.render(), f"{fmt} given as a JSON {form}"))
        return str(int(value)) if wide or in_query else int(value)


def without_path_fields(checker: Checker, body: dict, params: dict[str, str]) -> dict:
    """A body that is a whole request message (`body: "*"`) may repeat the fields bound to the
    path: Google's Rust clients send the request as it is, `parent` or `name` included, and
    Google's transcoder takes them. The discovery schema leaves them out, so they are checked
    against the path here and dropped."""
    out = JsonObject({k: v for k, v in body.items() if k not in params})
    out.duplicates = getattr(body, "duplicates", ())
    for name in set(body) & set(params):
        if body[name] != params[name]:
            note = f"`{name}` {shown(body[name])} in the body, {shown(params[name])} in the path"
            checker.notes.append(Issue(name, note))
    return out


def alt_options(query: dict[str, list[str]]) -> tuple[str, list[str]]:
    """`$alt=json;enum-encoding=int` -> ("json", ["enum-encoding=int"])."""
    raw = (query.get("$alt") or query.get("alt") or ["json"])[0]
    alt, *options = raw.split(";")
    return alt, options


def check_query(
    checker: Checker, route: Route, query: dict[str, list[str]]
) -> dict[str, list[str]]:
    """Query parameters: the method's own, the document's system parameters (also with a `$`
    prefix), `$alt` options; their values typed like body fields. Returns the query with enum
    numbers as names."""
    params = {
        k: v for k, v in route.method.get("parameters", {}).items() if v.get("location") == "query"
    }
    system = checker.api.doc["parameters"]
    normalised = {}
    for key, values in query.items():
        normalised[key] = values
        spec = params.get(key) or system.get(key.removeprefix("$"))
        path = FieldPath().field(key)
        if spec is None:
            checker.violation(
                path,
                f'Invalid JSON payload received. Unknown name "{key}": Cannot bind query '
                f"parameter. Field '{key}' could not be found in request message.",
            )
            continue
        if len(values) > 1 and not spec.get("repeated"):
            checker.violation(path, f"Query parameter '{key}' is given {len(values)} times.")
        normalised[key] = [check_query_value(checker, key, spec, v, path) for v in values]
    for name, spec in params.items():
        if spec.get("required") and name not in query:
            checker.violation(FieldPath().field(name), f"Missing required query parameter {name}.")
    return normalised


def check_query_value(checker: Checker, key: str, spec: dict, value: str, path: FieldPath) -> str:
    """One query value, typed by its parameter; returned normalised (enum names)."""
    if key.removeprefix("$") == "alt":
        alt, *options = value.split(";")
        if alt not in spec.get("enum", [alt]) or any(o != "enum-encoding=int" for o in options):
            checker.bad_value(path, "TYPE_STRING", value)
    elif "enum" in spec:
        number = int(value) if re.fullmatch(r"-?\d+", value) else value
        return str(checker.check_enum(spec["enum"], number, path))
    elif spec.get("type") == "integer" or spec.get("format") in ("int64", "uint64"):
        return checker.check_integer(spec.get("format") or "int32", value, path, in_query=True)
    elif spec.get("type") == "boolean":
        if value not in ("true", "false"):
            checker.bad_value(path, "TYPE_BOOL", value)
    elif spec.get("type") == "number":
        try:
            float(value)
        except ValueError:
            checker.bad_value(path, "TYPE_DOUBLE", value)
    elif value:
        checker.check_scalar("string", spec.get("format"), value, path)
    return value


# --------------------------------------------------------------------------------------------
# Resources: helpers shared by the Vertex AI and Monitoring handlers


def now() -> str:
    """RFC 3339 in UTC, as Google writes timestamps."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


FILTER_TERM = re.compile(
    r"""\s*(?P<field>[A-Za-z_][\w.]*)\s*(?P<op>!=|=|:)\s*
    (?:"(?P<quoted>(?:[^"\\]|\\.)*)"
      |(?P<func>starts_with|ends_with|has_substring)\(\s*"(?P<arg>(?:[^"\\]|\\.)*)"\s*\)
      |(?P<bare>[^\s"()]+))
    \s*(?:AND\s+|$)""",
    re.X,
)


def parse_filter(text: str) -> list[tuple[str, str, str, str | None]]:
    """`a.b = "x" AND c:y AND metric.type = starts_with("z")` -> [(field, op, value, func)]. Only
    conjunctions of comparisons: enough to read back what a test wrote."""
    terms, pos = [], 0
    while pos < len(text.strip()):
        m = FILTER_TERM.match(text, pos)
        if not m:
            raise invalid(f'gcp_fake supports only `field = "value"` terms joined by AND: {text}')
        value = m.group("quoted") if m.group("quoted") is not None else m.group("arg")
        value = re.sub(r"\\(.)", r"\1", value) if value is not None else m.group("bare")
        terms.append((m.group("field"), m.group("op"), value, m.group("func")))
        pos = m.end()
    return terms


def lookup(resource: Any, dotted: str) -> Any:
    """A field by filter path: `display_name` finds `displayName`; map keys are taken as is."""
    value = resource
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value[part] if part in value else value.get(snake_to_camel(part))
    return value


def term_matches(value: Any, op: str, expected: str, func: str | None) -> bool:
    """One comparison: `=` same text, `!=` not, `:` has (substring or member; `*` any value)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = "" if value is None else str(value)
    if func == "starts_with":
        hit = text.startswith(expected)
    elif func == "ends_with":
        hit = text.endswith(expected)
    elif func == "has_substring" or op == ":":
        items = value if isinstance(value, (list, dict)) else [text]
        hit = value is not None and (expected == "*" or any(expected in str(i) for i in items))
    else:
        hit = text == expected
    return not hit if op == "!=" else hit


def filtered(items: list[dict], text: str, view: Callable[[dict], dict] = lambda r: r) -> list:
    """The items a list `filter` selects; `view` is what the filter's field names refer to."""
    terms = parse_filter(text) if text.strip() else []
    return [
        r
        for r in items
        if all(term_matches(lookup(view(r), f), op, value, func) for f, op, value, func in terms)
    ]


def page(call: Call, items: list[dict], key: str, total: bool = False) -> dict:
    """One page of a list answer; proto3 JSON leaves out empty lists and zero counts."""
    size = int(call.arg("pageSize") or 0)
    token = call.arg("pageToken")
    if token and not token.isdigit():
        raise invalid("Invalid page token.")
    start = int(token or 0)
    chosen = items[start : start + size] if size > 0 else items[start:]
    out: dict[str, Any] = {key: chosen} if chosen else {}
    if size > 0 and start + size < len(items):
        out["nextPageToken"] = str(start + size)
    if total and items:
        out["totalSize"] = len(items)
    return out


# Fields the server keeps up to date itself, though the document does not say "Output only".
SERVER_FIELDS = {"name", "creationRecord", "mutationRecord", "mutationRecords"}


def find(collection: dict[str, dict], kind: str, name: str) -> dict:
    """A stored resource, or Google's 404."""
    if name not in collection:
        raise not_found(kind, name)
    return collection[name]


def output_only(api: Api, schema: str, prop: str) -> bool:
    return "Output only" in api.schemas[schema]["properties"][prop].get("description", "")


def writable(call: Call, schema: str, body: dict) -> dict:
    """The fields of a submitted resource that a client sets; Google ignores output-only ones."""
    return {k: v for k, v in body.items() if not output_only(call.api, schema, k)}


def apply_update_mask(call: Call, schema: str, resource: dict, patch: dict, mask: str) -> None:
    """Copy the masked fields (camelCase or snake_case paths) from `patch` into `resource`; a
    field absent from `patch` is cleared. An empty mask replaces every writable field."""
    props = call.api.schemas[schema]["properties"]
    paths = [p.strip() for p in mask.split(",") if p.strip()]
    settable = {p for p in props if p not in SERVER_FIELDS and not output_only(call.api, schema, p)}
    for path in paths or sorted(settable):
        parts = [snake_to_camel(p) for p in path.split(".")]
        if parts[0] not in settable:
            raise invalid(f"Invalid update mask path: {path}", [bad_request(("update_mask", path))])
        source, target = patch, resource
        for part in parts[:-1]:
            source = source.get(part, {}) if isinstance(source, dict) else {}
            target = target.setdefault(part, {})
        if isinstance(source, dict) and parts[-1] in source:
            target[parts[-1]] = copy.deepcopy(source[parts[-1]])
        else:
            target.pop(parts[-1], None)


@dataclass
class PendingOperation:
    """A long-running operation: `done` after --lro-polls GETs."""

    name: str
    metadata: dict
    response: dict
    polls_left: int

    def view(self) -> dict:
        op = {"name": self.name, "metadata": self.metadata}
        if self.polls_left <= 0:
            op.update(done=True, response=self.response)
        return op


@dataclass
class JobProgress:
    """How far a pipeline job is, and whether the control API asked for it to fail."""

    polls: int = 0
    failure: dict | None = None  # {"task": ..., "message": ...}


class State:
    """Every resource the fake holds, by resource name."""

    def __init__(self):
        self.ids = itertools.count(1)
        self.pipeline_jobs: dict[str, dict] = {}
        self.job_progress: dict[str, JobProgress] = {}
        self.schedules: dict[str, dict] = {}
        self.models: dict[str, dict[str, dict]] = {}  # model name -> version id -> Model
        self.model_versions_made: dict[str, int] = {}
        self.endpoints: dict[str, dict] = {}
        self.operations: dict[str, PendingOperation] = {}
        self.metadata_stores: dict[str, dict] = {}
        self.metadata: dict[str, dict] = {}  # contexts, executions and artifacts
        self.context_links: dict[str, dict[str, list[str]]] = {}
        self.metric_descriptors: dict[str, dict] = {}
        self.time_series: dict[str, dict] = {}
        self.alert_policies: dict[str, dict] = {}
        self.channels: dict[str, dict] = {}

    def new_id(self) -> str:
        """Numeric ids like Vertex AI's (19 digits)."""
        return str(4_000_000_000_000_000_000 + next(self.ids))

    def dump(self) -> dict:
        return {
            "pipelineJobs": list(self.pipeline_jobs.values()),
            "schedules": list(self.schedules.values()),
            "models": {name: list(v.values()) for name, v in self.models.items()},
            "endpoints": list(self.endpoints.values()),
            "operations": [op.view() for op in self.operations.values()],
            "metadataStores": list(self.metadata_stores.values()),
            "metadata": list(self.metadata.values()),
            "contextLinks": self.context_links,
            "metricDescriptors": list(self.metric_descriptors.values()),
            "timeSeries": list(self.time_series.values()),
            "alertPolicies": list(self.alert_policies.values()),
            "notificationChannels": list(self.channels.values()),
        }


@dataclass
class Call:
    """One API request, matched and validated, as the handlers see it."""

    fake: Fake
    api: Api
    method_id: str
    params: dict[str, str]
    query: dict[str, list[str]]
    body: Any
    violations: list[Issue] = field(default_factory=list)  # found by handlers (the KFP check)
    notes: list[Issue] = field(default_factory=list)

    @property
    def state(self) -> State:
        return self.fake.state

    @property
    def config(self) -> Config:
        return self.fake.config

    def arg(self, name: str) -> str:
        return (self.query.get(name) or [""])[0]


HANDLERS: dict[str, Callable[[Call], dict]] = {}


def handles(*method_ids: str):
    """Register the handler of these discovery methods."""

    def register(fn):
        for method_id in method_ids:
            HANDLERS[method_id] = fn
        return fn

    return register


# --------------------------------------------------------------------------------------------
# Vertex AI

VERTEX = "aiplatform.projects.locations."
VERTEX_TYPE = "type.googleapis.com/google.cloud.aiplatform.v1."
RESOURCE_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")
MODEL_ID = re.compile(r"[a-z_][a-z0-9_-]{0,62}")
ALIAS = re.compile(r"[a-z][a-zA-Z0-9-]{0,126}[a-z0-9-]")
PIPELINE_JOB = "GoogleCloudAiplatformV1PipelineJob"
SCHEDULE = "GoogleCloudAiplatformV1Schedule"
MODEL = "GoogleCloudAiplatformV1Model"
ENDPOINT = "GoogleCloudAiplatformV1Endpoint"
TERMINAL_JOB_STATES = {
    "PIPELINE_STATE_SUCCEEDED",
    "PIPELINE_STATE_FAILED",
    "PIPELINE_STATE_CANCELLED",
}


def start_operation(call: Call, under: str, kind: str, response: dict) -> dict:
    """Record an LRO named under `under` (a resource or a location); its metadata is Vertex AI's
    `{kind}OperationMetadata` and `response` carries its own @type."""
    t = now()
    metadata = {
        "@type": f"{VERTEX_TYPE}{kind}OperationMetadata",
        "genericMetadata": {"createTime": t, "updateTime": t},
    }
    op = PendingOperation(
        f"{under}/operations/{call.state.new_id()}", metadata, response, call.config.lro_polls
    )
    call.state.operations[op.name] = op
    return op.view()


EMPTY_RESPONSE = {"@type": "type.googleapis.com/google.protobuf.Empty"}


def get_operation(call: Call) -> dict:
    """One poll of an operation (it counts towards --lro-polls)."""
    op = call.state.operations.get(call.params["name"])
    if op is None:
        raise not_found("Operation", call.params["name"])
    op.polls_left -= 1
    return op.view()


def handler_for(method_id: str) -> Callable[[Call], dict] | None:
    """The fake's handler of a discovery method. Vertex AI has an `operations.get` method under
    every resource kind; they all read the same operations."""
    if method_id.startswith("aiplatform.") and method_id.endswith(".operations.get"):
        return get_operation
    return HANDLERS.get(method_id)


def new_resource_id(call: Call, given: str, kind: str) -> str:
    """A client-chosen id (checked), or a numeric one as Vertex AI makes them."""
    if not given:
        return call.state.new_id()
    if not RESOURCE_ID.fullmatch(given):
        raise invalid(f"{kind} id `{given}` must match [a-z0-9][a-z0-9-]{{0,127}}.")
    return given


# --- Pipeline jobs


def check_pipeline_job(call: Call, job: dict, where: FieldPath) -> None:
    """What Vertex AI checks on a submitted job: a pipelineSpec that parses as KFP's PipelineSpec
    (the suite's strict check, tests/python/kfp_ir.py), and runtime parameters the spec defines."""
    spec = job.get("pipelineSpec")
    if spec is None:
        if job.get("templateUri"):
            return
        raise missing_fields(where.field("pipelineSpec").render(proto=True))
    spec_path = where.field("pipelineSpec")
    checks = kfp_ir()
    try:
        _, _, warnings = checks.check_document(spec_path.render(), spec)
    except checks.Failure as e:
        call.violations.append(Issue(spec_path.render(), str(e)))
        raise invalid(
            f"Invalid pipeline spec: {e}", [bad_request((spec_path.render(proto=True), str(e)))]
        ) from None
    call.notes.extend(Issue(spec_path.render(), f"deprecated: {w}") for w in warnings)
    defined = spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
    given = job.get("runtimeConfig", {}).get("parameterValues", {})
    unknown = sorted(set(given) - set(defined))
    if unknown:
        raise invalid(f"The pipeline spec has no input parameter(s) {', '.join(unknown)}.")
    missing = sorted(
        name
        for name, d in defined.items()
        if name not in given and "defaultValue" not in d and not d.get("isOptional")
    )
    if missing:
        raise invalid(f"Missing value(s) for the pipeline input parameter(s) {', '.join(missing)}.")


def pipeline_tasks(spec: dict) -> list[tuple[str, dict, str | None]]:
    """(task name, task, parent task name) for the root DAG's tasks and, below them, the tasks
    of sub-DAGs (conditions, loops), as Vertex AI lists them in jobDetail.taskDetails."""
    components = spec.get("components", {})
    found = []

    def walk(dag: dict, parent: str | None):
        for name, task in dag.get("tasks", {}).items():
            found.append((name, task, parent))
            sub = components.get(task.get("componentRef", {}).get("name", ""), {})
            if "dag" in sub:
                walk(sub["dag"], name)

    walk(spec.get("root", {}).get("dag", {}), None)
    return found


def downstream_of(spec: dict, failed: str) -> set[str]:
    """Tasks that (transitively) depend on `failed`: they never run."""
    tasks = {name: task for name, task, _ in pipeline_tasks(spec)}
    out, grew = set(), True
    while grew:
        grew = False
        for name, task in tasks.items():
            deps = set(task.get("dependentTasks", []))
            if name not in out and deps & (out | {failed}):
                out.add(name)
                grew = True
    return out


def task_states(spec: dict, job_state: str, failure: dict | None) -> dict[str, str]:
    """Each task's state for a job state: running jobs run the tasks nothing waits
    for; a failure fails its task and leaves the tasks after it NOT_TRIGGERED."""
    tasks = pipeline_tasks(spec)
    if job_state == "PIPELINE_STATE_RUNNING":
        return {n: "PENDING" if t.get("dependentTasks") else "RUNNING" for n, t, _ in tasks}
    if job_state == "PIPELINE_STATE_CANCELLED":
        return {n: "CANCELLED" for n, _, _ in tasks}
    if job_state == "PIPELINE_STATE_FAILED" and failure:
        skipped = downstream_of(spec, failure["task"])
        return {
            n: "FAILED"
            if n == failure["task"]
            else "NOT_TRIGGERED"
            if n in skipped
            else "SUCCEEDED"
            for n, _, _ in tasks
        }
    return {n: "SUCCEEDED" for n, _, _ in tasks}


def job_detail(job: dict, failure: dict | None) -> dict:
    """jobDetail.taskDetails for the job's current state."""
    spec = job.get("pipelineSpec", {})
    states = task_states(spec, job["state"], failure)
    ids: dict[str, str] = {}
    details = []
    for i, (name, _, parent) in enumerate(pipeline_tasks(spec), start=1):
        ids[name] = str(i)
        state = states[name]
        detail = {"taskId": str(i), "taskName": name, "state": state}
        detail["createTime"] = job["createTime"]
        if parent:
            detail["parentTaskId"] = ids[parent]
        if state in ("RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"):
            detail["startTime"] = job.get("startTime", job["updateTime"])
        if state in ("SUCCEEDED", "FAILED", "CANCELLED"):
            detail["endTime"] = job["updateTime"]
        if state == "FAILED":
            detail["error"] = {
                "code": RPC_CODES["FAILED_PRECONDITION"],
                "message": failure["message"],
            }
        details.append(detail)
    return {"taskDetails": details} if details else {}


def next_job_state(state: str, progress: JobProgress) -> str:
    """PENDING -> RUNNING -> SUCCEEDED; CANCELLING -> CANCELLED; FAILED when asked to."""
    if state == "PIPELINE_STATE_CANCELLING":
        return "PIPELINE_STATE_CANCELLED"
    if progress.failure:
        return "PIPELINE_STATE_FAILED"
    return {"PIPELINE_STATE_PENDING": "PIPELINE_STATE_RUNNING"}.get(
        state, "PIPELINE_STATE_SUCCEEDED"
    )


def advance_job(call: Call, name: str) -> None:
    """One GET's worth of progress: every --job-polls GETs the job moves one state on."""
    job, progress = call.state.pipeline_jobs[name], call.state.job_progress[name]
    if job["state"] in TERMINAL_JOB_STATES:
        return
    progress.polls += 1
    if progress.polls < max(call.config.job_polls, 1):
        return
    progress.polls = 0
    job["state"] = next_job_state(job["state"], progress)
    job["updateTime"] = now()
    if job["state"] == "PIPELINE_STATE_RUNNING":
        job["startTime"] = job["updateTime"]
    if job["state"] in TERMINAL_JOB_STATES:
        job.setdefault("startTime", job["updateTime"])
        job["endTime"] = job["updateTime"]
    if job["state"] == "PIPELINE_STATE_FAILED":
        _, project, _, _, _, job_id = name.split("/")
        job["error"] = {
            "code": RPC_CODES["FAILED_PRECONDITION"],
            "message": "The DAG failed because some tasks failed. The failed tasks are: "
            f"[{progress.failure['task']}].; Job (project_id = {project}, job_id = {job_id}) "
            "is failed due to the above error.",
        }
    job["jobDetail"] = job_detail(job, progress.failure)
    if not job["jobDetail"]:
        del job["jobDetail"]


def store_pipeline_job(call: Call, parent: str, job: dict, job_id: str) -> dict:
    """Store a new job in PENDING (the id from ?pipelineJobId=, else a number)."""
    name = f"{parent}/pipelineJobs/{new_resource_id(call, job_id, 'PipelineJob')}"
    if name in call.state.pipeline_jobs:
        raise already_exists("PipelineJob", name)
    t = now()
    resource = writable(call, PIPELINE_JOB, job)
    spec_name = job.get("pipelineSpec", {}).get("pipelineInfo", {}).get("name", "")
    resource.setdefault("displayName", spec_name)
    resource.update(name=name, state="PIPELINE_STATE_PENDING", createTime=t, updateTime=t)
    call.state.pipeline_jobs[name] = resource
    call.state.job_progress[name] = JobProgress()
    return resource


@handles(VERTEX + "pipelineJobs.create")
def create_pipeline_job(call: Call) -> dict:
    check_pipeline_job(call, call.body, FieldPath().field("pipelineJob"))
    return store_pipeline_job(call, call.params["parent"], call.body, call.arg("pipelineJobId"))


@handles(VERTEX + "pipelineJobs.get")
def get_pipeline_job(call: Call) -> dict:
    find(call.state.pipeline_jobs, "PipelineJob", call.params["name"])
    advance_job(call, call.params["name"])
    return call.state.pipeline_jobs[call.params["name"]]


@handles(VERTEX + "pipelineJobs.list")
def list_pipeline_jobs(call: Call) -> dict:
    prefix = call.params["parent"] + "/pipelineJobs/"
    jobs = [j for n, j in call.state.pipeline_jobs.items() if n.startswith(prefix)]
    return page(call, filtered(jobs, call.arg("filter")), "pipelineJobs")


@handles(VERTEX + "pipelineJobs.cancel")
def cancel_pipeline_job(call: Call) -> dict:
    """Cancelling takes one state change (CANCELLING, then CANCELLED at the next GET)."""
    job = find(call.state.pipeline_jobs, "PipelineJob", call.params["name"])
    if job["state"] in TERMINAL_JOB_STATES:
        raise failed_precondition(
            f"Cannot cancel the pipeline job {job['name']} in state {job['state']}."
        )
    job.update(state="PIPELINE_STATE_CANCELLING", updateTime=now())
    return {}


# --- Schedules


@handles(VERTEX + "schedules.create")
def create_schedule(call: Call) -> dict:
    """A schedule of pipeline runs: Vertex AI checks its pipeline job when it is
    created, not when it first runs, so the fake does too. No run is ever started."""
    schedule, parent = call.body, call.params["parent"]
    required = ["displayName", "cron", "maxConcurrentRunCount"]
    missing = [f"schedule.{camel_to_snake(f)}" for f in required if not schedule.get(f)]
    request = schedule.get("createPipelineJobRequest")
    if request is None and "createNotebookExecutionJobRequest" not in schedule:
        missing.append("schedule.create_pipeline_job_request")
    if missing:
        raise missing_fields(*missing)
    if request is not None:
        where = FieldPath().field("schedule").field("createPipelineJobRequest")
        if request.get("parent") != parent:
            raise invalid(
                f"The schedule's createPipelineJobRequest.parent `{request.get('parent')}` "
                f"must be the schedule's location `{parent}`."
            )
        check_pipeline_job(call, request.get("pipelineJob", {}), where.field("pipelineJob"))
    name = f"{parent}/schedules/{call.state.new_id()}"
    t = now()
    resource = writable(call, SCHEDULE, schedule)
    resource.update(name=name, state="ACTIVE", createTime=t, updateTime=t)
    call.state.schedules[name] = resource
    return resource


@handles(VERTEX + "schedules.get")
def get_schedule(call: Call) -> dict:
    return find(call.state.schedules, "Schedule", call.params["name"])


@handles(VERTEX + "schedules.list")
def list_schedules(call: Call) -> dict:
    prefix = call.params["parent"] + "/schedules/"
    items = [s for n, s in call.state.schedules.items() if n.startswith(prefix)]
    return page(call, filtered(items, call.arg("filter")), "schedules")


@handles(VERTEX + "schedules.patch")
def patch_schedule(call: Call) -> dict:
    schedule = find(call.state.schedules, "Schedule", call.params["name"])
    if not call.arg("updateMask"):
        raise missing_fields("update_mask")
    apply_update_mask(call, SCHEDULE, schedule, call.body, call.arg("updateMask"))
    schedule["updateTime"] = now()
    return schedule


@handles(VERTEX + "schedules.pause")
def pause_schedule(call: Call) -> dict:
    schedule = find(call.state.schedules, "Schedule", call.params["name"])
    if schedule["state"] != "ACTIVE":
        raise failed_precondition(f"Schedule {schedule['name']} is not active.")
    t = now()
    schedule.update(state="PAUSED", lastPauseTime=t, updateTime=t)
    return {}


@handles(VERTEX + "schedules.resume")
def resume_schedule(call: Call) -> dict:
    """Back to ACTIVE from PAUSED only."""
    schedule = find(call.state.schedules, "Schedule", call.params["name"])
    if schedule["state"] != "PAUSED":
        raise failed_precondition(f"Schedule {schedule['name']} is not paused.")
    t = now()
    schedule.update(state="ACTIVE", lastResumeTime=t, updateTime=t)
    if call.body.get("catchUp"):
        schedule["catchUp"] = True
    return {}


@handles(VERTEX + "schedules.delete")
def delete_schedule(call: Call) -> dict:
    name = call.params["name"]
    find(call.state.schedules, "Schedule", name)
    del call.state.schedules[name]
    return start_operation(call, name.rsplit("/schedules/", 1)[0], "Delete", EMPTY_RESPONSE)


# --- Models: versions and aliases


def split_model_ref(ref: str) -> tuple[str, str]:
    """`projects/p/locations/l/models/ID@2` -> (model name, "2"); no `@` -> (name, "")."""
    name, _, selector = ref.partition("@")
    return name, selector


def model_versions(call: Call, name: str) -> dict[str, dict]:
    if name not in call.state.models:
        raise not_found("Model", name)
    return call.state.models[name]


def resolve_version(call: Call, ref: str) -> dict:
    """A model version by `ID`, `ID@VERSION` or `ID@ALIAS`; without `@`, the default version."""
    name, selector = split_model_ref(ref)
    versions = model_versions(call, name)
    selector = selector or "default"
    if selector in versions:
        return versions[selector]
    for version in versions.values():
        if selector in version.get("versionAliases", []):
            return version
    raise not_found("Model", ref)


def check_aliases(aliases: list[str], field_name: str) -> None:
    """Version aliases as Vertex AI takes them (they cannot look like version ids)."""
    bad = [a for a in aliases if not ALIAS.fullmatch(a)]
    if bad:
        raise invalid(
            f"Invalid version alias(es) {', '.join(bad)}: an alias must match "
            "[a-z][a-zA-Z0-9-]{0,126}[a-z0-9-].",
            [bad_request(*[(field_name, f"invalid alias {a}") for a in bad])],
        )


def take_alias(versions: dict[str, dict], alias: str, owner: dict) -> None:
    """An alias names one version of a model: giving it to `owner` takes it from the others."""
    for version in versions.values():
        if version is not owner and alias in version.get("versionAliases", []):
            version["versionAliases"].remove(alias)
            if not version["versionAliases"]:
                del version["versionAliases"]
            version["versionUpdateTime"] = now()
    if alias not in owner.setdefault("versionAliases", []):
        owner["versionAliases"].append(alias)


def new_model_version(call: Call, name: str, model: dict, versions: dict[str, dict]) -> dict:
    """Store a new version; the first one gets the `default` alias."""
    t = now()
    version_id = str(call.state.model_versions_made.get(name, 0) + 1)  # never reused
    call.state.model_versions_made[name] = int(version_id)
    created = min((v["createTime"] for v in versions.values()), default=t)
    resource = writable(call, MODEL, model)
    resource.pop("versionAliases", None)
    resource.update(
        name=name,
        versionId=version_id,
        createTime=created,
        updateTime=t,
        versionCreateTime=t,
        versionUpdateTime=t,
        etag=f"fake-etag-{next(call.state.ids)}",
    )
    versions[version_id] = resource
    aliases = (["default"] if version_id == "1" else []) + model.get("versionAliases", [])
    for alias in aliases:
        take_alias(versions, alias, resource)
    return resource


@handles(VERTEX + "models.upload")
def upload_model(call: Call) -> dict:
    """A new model, or with `parentModel` a new version of one; an LRO whose response
    names the model and the version."""
    parent, body = call.params["parent"], call.body
    model = body.get("model")
    if not model or not model.get("displayName"):
        raise missing_fields("model" if not model else "model.display_name")
    if "containerSpec" in model and not model["containerSpec"].get("imageUri"):
        raise missing_fields("model.container_spec.image_uri")
    check_aliases(model.get("versionAliases", []), "model.version_aliases")
    if body.get("parentModel"):
        name = body["parentModel"]
        if not name.startswith(parent + "/models/"):
            raise invalid(f"parentModel {name} is not in {parent}.")
        versions = model_versions(call, name)
    else:
        model_id = body.get("modelId") or call.state.new_id()
        if body.get("modelId") and not MODEL_ID.fullmatch(model_id):
            raise invalid(f"modelId `{model_id}` must match [a-z_][a-z0-9_-]{{0,62}}.")
        name = f"{parent}/models/{model_id}"
        if name in call.state.models:
            raise already_exists("Model", name)
        versions = call.state.models[name] = {}
    version = new_model_version(call, name, model, versions)
    response = {
        "@type": VERTEX_TYPE + "UploadModelResponse",
        "model": name,
        "modelVersionId": version["versionId"],
    }
    return start_operation(call, name, "UploadModel", response)


@handles(VERTEX + "models.get")
def get_model(call: Call) -> dict:
    return resolve_version(call, call.params["name"])


@handles(VERTEX + "models.list")
def list_models(call: Call) -> dict:
    prefix = call.params["parent"] + "/models/"
    models = [resolve_version(call, n) for n in call.state.models if n.startswith(prefix)]
    return page(call, filtered(models, call.arg("filter")), "models")


@handles(VERTEX + "models.listVersions")
def list_model_versions(call: Call) -> dict:
    versions = model_versions(call, split_model_ref(call.params["name"])[0])
    ordered = [versions[v] for v in sorted(versions, key=int)]
    return page(call, filtered(ordered, call.arg("filter")), "models")


@handles(VERTEX + "models.mergeVersionAliases")
def merge_version_aliases(call: Call) -> dict:
    """`alias` adds (taking it from whichever version had it), `-alias` removes;
    the `default` alias can only move, never be removed."""
    ref = call.params["name"]
    name, selector = split_model_ref(ref)
    if not selector:
        raise invalid(f"The model name {ref} must name a version (`models/ID@VERSION`).")
    changes = call.body.get("versionAliases", [])
    if not changes:
        raise missing_fields("version_aliases")
    check_aliases([a.removeprefix("-") for a in changes], "version_aliases")
    if "-default" in changes:
        raise failed_precondition("The default version alias cannot be removed.")
    versions, version = model_versions(call, name), resolve_version(call, ref)
    for change in changes:
        if change.startswith("-"):
            aliases = version.get("versionAliases", [])
            if change[1:] in aliases:
                aliases.remove(change[1:])
            if not aliases:
                version.pop("versionAliases", None)
        else:
            take_alias(versions, change, version)
    version["versionUpdateTime"] = now()
    return version


def deployed_refs(version: dict) -> list[dict]:
    return version.get("deployedModels", [])


@handles(VERTEX + "models.deleteVersion")
def delete_model_version(call: Call) -> dict:
    """Neither the default version nor a deployed one can be deleted."""
    ref = call.params["name"]
    name, selector = split_model_ref(ref)
    if not selector:
        raise invalid(f"The model name {ref} must name a version (`models/ID@VERSION`).")
    version = resolve_version(call, ref)
    if "default" in version.get("versionAliases", []):
        raise failed_precondition(
            f"Model version {ref} is the default version and cannot be deleted; "
            "move the default alias first."
        )
    if deployed_refs(version):
        raise failed_precondition(f"Model version {ref} is deployed to an endpoint.")
    del call.state.models[name][version["versionId"]]
    return start_operation(call, name.rsplit("/models/", 1)[0], "Delete", EMPTY_RESPONSE)


@handles(VERTEX + "models.delete")
def delete_model(call: Call) -> dict:
    name = call.params["name"]
    versions = model_versions(call, name)
    if any(deployed_refs(v) for v in versions.values()):
        raise failed_precondition(f"Model {name} has versions deployed to an endpoint.")
    del call.state.models[name]
    return start_operation(call, name.rsplit("/models/", 1)[0], "Delete", EMPTY_RESPONSE)


# --- Endpoints


@handles(VERTEX + "endpoints.create")
def create_endpoint(call: Call) -> dict:
    """An LRO whose response is the Endpoint."""
    if not call.body.get("displayName"):
        raise missing_fields("endpoint.display_name")
    endpoint_id = new_resource_id(call, call.arg("endpointId"), "Endpoint")
    name = f"{call.params['parent']}/endpoints/{endpoint_id}"
    if name in call.state.endpoints:
        raise already_exists("Endpoint", name)
    t = now()
    endpoint = writable(call, ENDPOINT, call.body)
    endpoint.update(name=name, createTime=t, updateTime=t, etag=f"fake-etag-{next(call.state.ids)}")
    call.state.endpoints[name] = endpoint
    return start_operation(
        call, name, "CreateEndpoint", {"@type": VERTEX_TYPE + "Endpoint", **endpoint}
    )


@handles(VERTEX + "endpoints.get")
def get_endpoint(call: Call) -> dict:
    return find(call.state.endpoints, "Endpoint", call.params["name"])


@handles(VERTEX + "endpoints.list")
def list_endpoints(call: Call) -> dict:
    prefix = call.params["parent"] + "/endpoints/"
    items = [e for n, e in call.state.endpoints.items() if n.startswith(prefix)]
    return page(call, filtered(items, call.arg("filter")), "endpoints")


def new_traffic_split(endpoint: dict, split: dict[str, int], new_id: str | None) -> dict[str, int]:
    """A requested trafficSplit ("0" is the model being deployed), checked like Vertex AI does:
    known deployed model ids only, percentages adding up to 100."""
    deployed = {d["id"] for d in endpoint.get("deployedModels", [])}
    resolved = {(new_id if k == "0" and new_id else k): v for k, v in split.items()}
    unknown = sorted(set(resolved) - deployed - {new_id})
    if unknown:
        raise invalid(f"trafficSplit names DeployedModel ids not on the endpoint: {unknown}.")
    if sum(resolved.values()) != 100:
        raise invalid("The traffic split percentages must add up to 100.")
    return {k: v for k, v in resolved.items() if v}


@handles(VERTEX + "endpoints.deployModel")
def deploy_model(call: Call) -> dict:
    """Deploy a model version (`models/ID`, `@VERSION` or `@ALIAS`); trafficSplit, when
    given, replaces the endpoint's ("0" is this deployment)."""
    endpoint = find(call.state.endpoints, "Endpoint", call.params["endpoint"])
    deployed = call.body.get("deployedModel")
    if not deployed or not deployed.get("model"):
        raise missing_fields("deployed_model" if not deployed else "deployed_model.model")
    version = resolve_version(call, deployed["model"])
    deployed_id = deployed.get("id") or call.state.new_id()
    if any(d["id"] == deployed_id for d in endpoint.get("deployedModels", [])):
        raise already_exists("DeployedModel", deployed_id)
    split = call.body.get("trafficSplit")
    if split:
        endpoint["trafficSplit"] = new_traffic_split(endpoint, split, deployed_id)
    model = {k: v for k, v in deployed.items() if k != "modelVersionId"}
    model.update(id=deployed_id, modelVersionId=version["versionId"], createTime=now())
    endpoint.setdefault("deployedModels", []).append(model)
    endpoint["updateTime"] = now()
    version.setdefault("deployedModels", []).append(
        {"endpoint": endpoint["name"], "deployedModelId": deployed_id}
    )
    response = {"@type": VERTEX_TYPE + "DeployModelResponse", "deployedModel": model}
    return start_operation(call, endpoint["name"], "DeployModel", response)


@handles(VERTEX + "endpoints.undeployModel")
def undeploy_model(call: Call) -> dict:
    """A deployed model can go only once no traffic reaches it (unless it is the last one);
    its endpoint and model version forget it."""
    endpoint = find(call.state.endpoints, "Endpoint", call.params["endpoint"])
    deployed_id = call.body.get("deployedModelId")
    if not deployed_id:
        raise missing_fields("deployed_model_id")
    models = endpoint.get("deployedModels", [])
    target = next((d for d in models if d["id"] == deployed_id), None)
    if target is None:
        raise not_found("DeployedModel", f"{deployed_id} on {endpoint['name']}")
    split = endpoint.get("trafficSplit", {})
    if call.body.get("trafficSplit"):
        split = new_traffic_split(endpoint, call.body["trafficSplit"], None)
    if len(models) > 1 and split.get(deployed_id):
        raise failed_precondition(
            f"DeployedModel {deployed_id} still has traffic; give its traffic to other "
            "deployed models in trafficSplit first."
        )
    models.remove(target)
    split = {k: v for k, v in split.items() if k != deployed_id}
    endpoint.pop("trafficSplit", None)
    if models and split:
        endpoint["trafficSplit"] = split
    if not models:
        endpoint.pop("deployedModels")
    endpoint["updateTime"] = now()
    for versions in call.state.models.values():
        for version in versions.values():
            refs = [r for r in deployed_refs(version) if r["deployedModelId"] != deployed_id]
            version.pop("deployedModels", None)
            if refs:
                version["deployedModels"] = refs
    response = {"@type": VERTEX_TYPE + "UndeployModelResponse"}
    return start_operation(call, endpoint["name"], "UndeployModel", response)


# --- Metadata store (Vertex AI Experiments): contexts, executions, artifacts

METADATA_KINDS = {"contexts": "Context", "executions": "Execution", "artifacts": "Artifact"}


@handles(VERTEX + "metadataStores.create")
def create_metadata_store(call: Call) -> dict:
    """A project's store (the SDK creates `default` on first use): an operation."""
    store_id = call.arg("metadataStoreId") or "default"
    name = f"{call.params['parent']}/metadataStores/{new_resource_id(call, store_id, 'MetadataStore')}"
    if name in call.state.metadata_stores:
        raise already_exists("MetadataStore", name)
    t = now()
    store = writable(call, "GoogleCloudAiplatformV1MetadataStore", call.body)
    store.update(name=name, createTime=t, updateTime=t)
    call.state.metadata_stores[name] = store
    response = {"@type": VERTEX_TYPE + "MetadataStore", **store}
    return start_operation(call, name, "CreateMetadataStore", response)


@handles(VERTEX + "metadataStores.get")
def get_metadata_store(call: Call) -> dict:
    return find(call.state.metadata_stores, "MetadataStore", call.params["name"])


def metadata_kind(call: Call) -> tuple[str, str]:
    """("contexts", "Context") for aiplatform.projects.locations.metadataStores.contexts.get."""
    collection = call.method_id.split(".")[-2]
    return collection, METADATA_KINDS[collection]


def metadata_resource(call: Call, name: str, body: dict, kind: str) -> dict:
    """A new context, execution or artifact (Vertex AI Experiments store runs as these)."""
    t = now()
    schema = f"GoogleCloudAiplatformV1{kind}"
    resource = writable(call, schema, body)
    resource.update(name=name, createTime=t, updateTime=t, etag=f"fake-etag-{next(call.state.ids)}")
    return resource


@handles(*(f"{VERTEX}metadataStores.{c}.create" for c in METADATA_KINDS))
def create_metadata(call: Call) -> dict:
    """Contexts, executions and artifacts, named by ?contextId= etc. or numbered."""
    collection, kind = metadata_kind(call)
    given = call.arg(f"{kind.lower()}Id")
    name = f"{call.params['parent']}/{collection}/{new_resource_id(call, given, kind)}"
    if name in call.state.metadata:
        raise already_exists(kind, name)
    call.state.metadata[name] = metadata_resource(call, name, call.body, kind)
    return call.state.metadata[name]


@handles(*(f"{VERTEX}metadataStores.{c}.get" for c in METADATA_KINDS))
def get_metadata(call: Call) -> dict:
    return find(call.state.metadata, metadata_kind(call)[1], call.params["name"])


@handles(*(f"{VERTEX}metadataStores.{c}.list" for c in METADATA_KINDS))
def list_metadata(call: Call) -> dict:
    collection, _ = metadata_kind(call)
    prefix = f"{call.params['parent']}/{collection}/"
    items = [r for n, r in call.state.metadata.items() if n.startswith(prefix)]
    return page(call, filtered(items, call.arg("filter")), collection)


@handles(*(f"{VERTEX}metadataStores.{c}.patch" for c in METADATA_KINDS))
def patch_metadata(call: Call) -> dict:
    """updateMask as given (empty: every writable field); allowMissing creates."""
    _, kind = metadata_kind(call)
    name = call.params["name"]
    if name not in call.state.metadata and call.arg("allowMissing") == "true":
        call.state.metadata[name] = metadata_resource(call, name, call.body, kind)
        return call.state.metadata[name]
    resource = find(call.state.metadata, kind, name)
    apply_update_mask(
        call, f"GoogleCloudAiplatformV1{kind}", resource, call.body, call.arg("updateMask")
    )
    resource["updateTime"] = now()
    return resource


def existing(call: Call, names: list[str], collection: str) -> list[str]:
    """The names, once each is known to be a stored context/execution/artifact."""
    for name in names:
        if f"/{collection}/" not in name or name not in call.state.metadata:
            raise not_found(METADATA_KINDS[collection], name)
    return names


@handles(VERTEX + "metadataStores.contexts.addContextChildren")
def add_context_children(call: Call) -> dict:
    """Children record their parents (Vertex AI Experiments nests runs so)."""
    context = find(call.state.metadata, "Context", call.params["context"])
    children = existing(call, call.body.get("childContexts", []), "contexts")
    if context["name"] in children:
        raise invalid(f"Context {context['name']} cannot be its own child.")
    for child in children:
        parents = call.state.metadata[child].setdefault("parentContexts", [])
        if context["name"] not in parents:
            parents.append(context["name"])
    return {}


@handles(VERTEX + "metadataStores.contexts.addContextArtifactsAndExecutions")
def add_context_artifacts_and_executions(call: Call) -> dict:
    """Links kept for /_fake/state; nothing else reads them."""
    context = find(call.state.metadata, "Context", call.params["context"])
    added = {c: existing(call, call.body.get(c, []), c) for c in ("artifacts", "executions")}
    links = call.state.context_links.setdefault(
        context["name"], {"artifacts": [], "executions": []}
    )
    for collection, names in added.items():
        links[collection] += [n for n in names if n not in links[collection]]
    return {}


# --------------------------------------------------------------------------------------------
# Cloud Monitoring

MONITORING = "monitoring.projects."
MAX_SERIES_PER_CALL = 200
MIN_SAMPLE_PERIOD = timedelta(seconds=5)  # Cloud Monitoring takes one point per 5 s per series
USER_METRIC_PREFIXES = (
    "custom.googleapis.com/",
    "external.googleapis.com/",
    "workload.googleapis.com/",
)
VALUE_TYPES = {
    "boolValue": "BOOL",
    "int64Value": "INT64",
    "doubleValue": "DOUBLE",
    "stringValue": "STRING",
    "distributionValue": "DISTRIBUTION",
}
TOO_MANY_SERIES = "A maximum of 200 TimeSeries can be written in a single request."
ONE_POINT = "Only one point can be written per TimeSeries per request."
OUT_OF_ORDER = (
    "Points must be written in order. One or more of the points specified had an older end "
    "time than the most recent point."
)
TOO_FREQUENT = (
    "One or more points were written more frequently than the maximum sampling period "
    "configured for the metric."
)
SLACK_DESCRIPTOR = {
    "type": "slack",
    "displayName": "Slack",
    "description": "Slack channel notifications",
    "labels": [
        {"key": "channel_name", "description": "The Slack channel to post notifications to"},
        {"key": "team", "description": "The Slack team the channel belongs to"},
        {"key": "auth_token", "description": "The OAuth access token for the Slack app"},
    ],
    "launchStage": "GA",
}


def series_key(project: str, series: dict) -> str:
    """A time series is its metric and monitored resource, labels included."""
    metric, resource = series.get("metric", {}), series.get("resource", {})
    parts = [metric.get("type"), sorted(metric.get("labels", {}).items())]
    parts += [resource.get("type"), sorted(resource.get("labels", {}).items())]
    return project + "|" + json.dumps(parts)


def required_field(field_name: str) -> ApiError:
    """Cloud Monitoring's answer to a missing required field (named in proto form)."""
    return invalid(f"Field {field_name} is required.", [bad_request((field_name, "required"))])


def check_series_shape(series_list: list[dict]) -> None:
    """Request-level checks: nothing is written when these fail."""
    if not series_list:
        raise required_field("time_series")
    if len(series_list) > MAX_SERIES_PER_CALL:
        raise invalid(
            f"Field timeSeries had an invalid value: {TOO_MANY_SERIES}",
            [bad_request(("timeSeries", TOO_MANY_SERIES))],
        )
    for i, series in enumerate(series_list):
        if len(series.get("points", [])) != 1:
            raise invalid(
                f"Field timeSeries[{i}].points had an invalid value: {ONE_POINT}",
                [bad_request((f"timeSeries[{i}].points", ONE_POINT))],
            )
        if not series.get("metric", {}).get("type"):
            raise required_field(f"time_series[{i}].metric.type")
        point = series["points"][0]
        if not point.get("interval", {}).get("endTime"):
            raise required_field(f"time_series[{i}].points[0].interval.end_time")
        if len(set(point.get("value", {})) & set(VALUE_TYPES)) != 1:
            raise required_field(f"time_series[{i}].points[0].value")


def metric_descriptor(call: Call, project: str, series: dict, value_type: str) -> dict:
    """The series' descriptor; Cloud Monitoring creates one on the first write of a metric."""
    metric = series["metric"]
    name = f"{project}/metricDescriptors/{metric['type']}"
    if name not in call.state.metric_descriptors:
        descriptor = {
            "name": name,
            "type": metric["type"],
            "metricKind": series.get("metricKind", "GAUGE"),
            "valueType": value_type,
        }
        if metric.get("labels"):
            descriptor["labels"] = [{"key": k} for k in sorted(metric["labels"])]
        call.state.metric_descriptors[name] = descriptor
    return call.state.metric_descriptors[name]


def write_series(call: Call, project: str, series: dict, index: int, seen: set[str]) -> str | None:
    """Store one series' point; the reason it cannot be written otherwise."""
    key = series_key(project, series)
    if key in seen:
        return (
            f"Field timeSeries[{index}] had an invalid value: Duplicate TimeSeries encountered. "
            f"{ONE_POINT}"
        )
    seen.add(key)
    point = series["points"][0]
    value_type = next((VALUE_TYPES[k] for k in point.get("value", {}) if k in VALUE_TYPES), "")
    descriptor = metric_descriptor(call, project, series, value_type)
    if value_type != descriptor["valueType"]:
        return (
            f"Value type for metric {series['metric']['type']} must be "
            f"{descriptor['valueType']}, but is {value_type}."
        )
    stored = call.state.time_series.get(key)
    if stored:
        last = parse_time(stored["points"][0]["interval"]["endTime"])
        new = parse_time(point["interval"]["endTime"])
        if new <= last:
            return OUT_OF_ORDER
        if new - last < MIN_SAMPLE_PERIOD:
            return TOO_FREQUENT
        stored["points"].insert(0, point)
        return None
    call.state.time_series[key] = {
        "metric": series["metric"],
        "resource": series.get("resource", {"type": "global"}),
        "metricKind": descriptor["metricKind"],
        "valueType": value_type,
        "points": [point],
    }
    return None


def partial_failure(total: int, failures: list[tuple[int, str]]) -> ApiError:
    """Cloud Monitoring writes the good series and reports the others."""
    listed = "; ".join(f"{reason}: timeSeries[{i}]" for i, reason in failures)
    reasons = Counter(reason for _, reason in failures)
    summary = {
        "@type": "type.googleapis.com/google.monitoring.v3.CreateTimeSeriesSummary",
        "totalPointCount": total,
        "successPointCount": total - len(failures),
        "errors": [
            {"status": {"code": RPC_CODES["INVALID_ARGUMENT"], "message": r}, "pointCount": n}
            for r, n in reasons.items()
        ],
    }
    return invalid(f"One or more TimeSeries could not be written: {listed}", [summary])


@handles(MONITORING + "timeSeries.create")
def create_time_series(call: Call) -> dict:
    """Shape checks fail the whole request; per-series problems (duplicates, order,
    sampling rate, value type) fail only those series, as Cloud Monitoring does."""
    project, series_list = call.params["name"], call.body.get("timeSeries", [])
    check_series_shape(series_list)
    seen: set[str] = set()
    failures = [
        (i, reason)
        for i, series in enumerate(series_list)
        if (reason := write_series(call, project, series, i, seen))
    ]
    if failures:
        raise partial_failure(len(series_list), failures)
    return {}


def in_interval(point: dict, start: str, end: str) -> bool:
    return parse_time(start) <= parse_time(point["interval"]["endTime"]) <= parse_time(end)


@handles(MONITORING + "timeSeries.list")
def list_time_series(call: Call) -> dict:
    """Series of one metric type (the filter must name it) with points in the interval."""
    project, text = call.params["name"], call.arg("filter")
    if not text:
        raise required_field("filter")
    if not any(field == "metric.type" for field, *_ in parse_filter(text)):
        raise invalid("Field filter had an invalid value: the filter must specify a metric type.")
    end = call.arg("interval.endTime")
    if not end:
        raise required_field("interval.end_time")
    start = call.arg("interval.startTime") or end  # Cloud Monitoring's default
    found = []
    for key, series in call.state.time_series.items():
        view = {**series, "project": project.removeprefix("projects/")}
        if not key.startswith(project + "|") or not filtered([view], text):
            continue
        points = [p for p in series["points"] if in_interval(p, start, end)]
        if points:
            entry = {k: v for k, v in series.items() if k != "points"}
            if call.arg("view") != "HEADERS":
                entry["points"] = points
            found.append(entry)
    return page(call, found, "timeSeries")


@handles(MONITORING + "metricDescriptors.create")
def create_metric_descriptor(call: Call) -> dict:
    """Only user-defined metric types can be created."""
    metric_type = call.body.get("type", "")
    for required in ("type", "metricKind", "valueType"):
        if not call.body.get(required):
            raise required_field(f"metric_descriptor.{camel_to_snake(required)}")
    if not metric_type.startswith(USER_METRIC_PREFIXES):
        raise invalid(
            f'Field metricDescriptor.type had an invalid value of "{metric_type}": user-defined '
            f"metric types begin with one of {', '.join(USER_METRIC_PREFIXES)}."
        )
    name = f"{call.params['name']}/metricDescriptors/{metric_type}"
    call.state.metric_descriptors[name] = {**call.body, "name": name}
    return call.state.metric_descriptors[name]


def find_descriptor(call: Call) -> dict:
    name = call.params["name"]
    if name not in call.state.metric_descriptors:
        metric_type = name.split("/metricDescriptors/", 1)[-1]
        raise ApiError(404, "NOT_FOUND", f"Could not find descriptor for metric '{metric_type}'.")
    return call.state.metric_descriptors[name]


@handles(MONITORING + "metricDescriptors.get")
def get_metric_descriptor(call: Call) -> dict:
    return find_descriptor(call)


@handles(MONITORING + "metricDescriptors.delete")
def delete_metric_descriptor(call: Call) -> dict:
    del call.state.metric_descriptors[find_descriptor(call)["name"]]
    return {}


@handles(MONITORING + "metricDescriptors.list")
def list_metric_descriptors(call: Call) -> dict:
    prefix = call.params["name"] + "/metricDescriptors/"
    items = [d for n, d in call.state.metric_descriptors.items() if n.startswith(prefix)]
    view = lambda d: {**d, "metric": {"type": d["type"]}}  # noqa: E731
    return page(call, filtered(items, call.arg("filter"), view), "metricDescriptors")


def mutation_record() -> dict:
    return {"mutateTime": now(), "mutatedBy": "gcp-fake"}


def name_conditions(call: Call, policy: dict) -> None:
    """Cloud Monitoring names each condition of a policy; a client must not."""
    for condition in policy.get("conditions", []):
        condition.setdefault("name", f"{policy['name']}/conditions/{call.state.new_id()}")


@handles(MONITORING + "alertPolicies.create")
def create_alert_policy(call: Call) -> dict:
    """Cloud Monitoring names the policy and its conditions and enables it by default."""
    name = f"{call.params['name']}/alertPolicies/{call.state.new_id()}"
    policy = {
        k: v for k, v in call.body.items() if k not in ("name", "creationRecord", "mutationRecord")
    }
    policy.update(name=name, creationRecord=mutation_record(), mutationRecord=mutation_record())
    policy.setdefault("enabled", True)
    name_conditions(call, policy)
    call.state.alert_policies[name] = policy
    return policy


@handles(MONITORING + "alertPolicies.get")
def get_alert_policy(call: Call) -> dict:
    return find(call.state.alert_policies, "AlertPolicy", call.params["name"])


@handles(MONITORING + "alertPolicies.list")
def list_alert_policies(call: Call) -> dict:
    prefix = call.params["name"] + "/alertPolicies/"
    items = [p for n, p in call.state.alert_policies.items() if n.startswith(prefix)]
    return page(call, filtered(items, call.arg("filter")), "alertPolicies", total=True)


@handles(MONITORING + "alertPolicies.patch")
def patch_alert_policy(call: Call) -> dict:
    policy = find(call.state.alert_policies, "AlertPolicy", call.params["name"])
    apply_update_mask(call, "AlertPolicy", policy, call.body, call.arg("updateMask"))
    policy["mutationRecord"] = mutation_record()
    name_conditions(call, policy)
    return policy


@handles(MONITORING + "alertPolicies.delete")
def delete_alert_policy(call: Call) -> dict:
    del call.state.alert_policies[get_alert_policy(call)["name"]]
    return {}


@handles(MONITORING + "notificationChannels.create")
def create_notification_channel(call: Call) -> dict:
    """Enabled unless said otherwise, as Cloud Monitoring does."""
    if not call.body.get("type"):
        raise required_field("notification_channel.type")
    name = f"{call.params['name']}/notificationChannels/{call.state.new_id()}"
    channel = {k: v for k, v in call.body.items() if k not in ("name", "creationRecord")}
    channel.update(name=name, creationRecord=mutation_record())
    channel.setdefault("enabled", True)
    call.state.channels[name] = channel
    return channel


@handles(MONITORING + "notificationChannels.get")
def get_notification_channel(call: Call) -> dict:
    return find(call.state.channels, "NotificationChannel", call.params["name"])


@handles(MONITORING + "notificationChannels.list")
def list_notification_channels(call: Call) -> dict:
    prefix = call.params["name"] + "/notificationChannels/"
    items = [c for n, c in call.state.channels.items() if n.startswith(prefix)]
    return page(call, filtered(items, call.arg("filter")), "notificationChannels", total=True)


@handles(MONITORING + "notificationChannels.patch")
def patch_notification_channel(call: Call) -> dict:
    channel = get_notification_channel(call)
    apply_update_mask(call, "NotificationChannel", channel, call.body, call.arg("updateMask"))
    channel.setdefault("mutationRecords", []).append(mutation_record())
    return channel


@handles(MONITORING + "notificationChannels.delete")
def delete_notification_channel(call: Call) -> dict:
    """A channel in use by a policy goes only with ?force=true."""
    name = get_notification_channel(call)["name"]
    in_use = [
        p["name"]
        for p in call.state.alert_policies.values()
        if name in p.get("notificationChannels", [])
    ]
    if in_use and call.arg("force") != "true":
        raise failed_precondition(
            f"Notification channel {name} is used by alert policies {in_use}."
        )
    del call.state.channels[name]
    return {}


@handles(MONITORING + "notificationChannelDescriptors.get")
def get_channel_descriptor(call: Call) -> dict:
    name = call.params["name"]
    if name.rsplit("/", 1)[-1] != SLACK_DESCRIPTOR["type"]:
        raise not_found("NotificationChannelDescriptor", name)
    return {"name": name, **SLACK_DESCRIPTOR}


# --------------------------------------------------------------------------------------------
# Credentials: OAuth2 token endpoint, self-signed JWTs

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_LIFETIME = 3600
CLOCK_SKEW = 300
DEFAULT_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
BAD_TOKEN_TIMES = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)
SEE_CONSOLE = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
MISSING_CREDENTIALS = f"Request is missing required authentication credential. {SEE_CONSOLE}"
INVALID_CREDENTIALS = f"Request had invalid authentication credentials. {SEE_CONSOLE}"


class AuthFailure(Exception):
    """An OAuth2 error answer: {"error": ..., "error_description": ...}."""

    def __init__(self, error: str, description: str):
        super().__init__(description)
        self.error, self.description = error, description


@dataclass
class ServiceAccountKey:
    client_email: str
    key_id: str
    public_key: Any
    token_uri: str


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_token_times(claims: dict) -> None:
    """Google's token endpoint takes assertions valid now and for at most an hour."""
    exp, iat, t = claims.get("exp"), claims.get("iat"), time.time()
    if not (is_number(exp) and is_number(iat)):
        raise AuthFailure("invalid_grant", BAD_TOKEN_TIMES)
    if exp <= t or iat > t + CLOCK_SKEW or exp - iat > TOKEN_LIFETIME + CLOCK_SKEW:
        raise AuthFailure("invalid_grant", BAD_TOKEN_TIMES)


class Auth:
    """Service-account keys registered by the tests, and the access tokens this fake issued."""

    def __init__(self):
        self.lock = threading.Lock()
        self.keys: dict[str, ServiceAccountKey] = {}
        self.tokens: dict[str, float] = {}  # access token -> expiry (epoch seconds)
        self.counter = itertools.count(1)

    def register(self, info: dict) -> ServiceAccountKey:
        """Keep the public half of a service-account JSON key."""
        try:
            private = serialization.load_pem_private_key(info["private_key"].encode(), None)
            key = ServiceAccountKey(
                info["client_email"], info["private_key_id"], private.public_key(),
                info.get("token_uri", ""),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise invalid(f"Not a service-account JSON key: {type(e).__name__}: {e}") from None
        with self.lock:
            self.keys[key.key_id] = key
        return key

    def issue(self) -> dict:
        with self.lock:
            token = f"ya29.fake-{next(self.counter)}"
            self.tokens[token] = time.time() + TOKEN_LIFETIME
        return {"access_token": token, "expires_in": TOKEN_LIFETIME, "token_type": "Bearer"}

    def candidates(self, kid: str | None, issuer: str | None) -> list[ServiceAccountKey]:
        with self.lock:
            keys = [k for k in self.keys.values() if k.client_email == issuer]
        if not keys:
            raise AuthFailure("invalid_grant", "Invalid grant: account not found")
        return [k for k in keys if k.key_id == kid] if kid else keys

    def verify(self, jwt: str) -> tuple[dict, ServiceAccountKey]:
        """The claims of an RS256 JWT signed by a registered key, within its lifetime."""
        try:
            head, body, sig = jwt.split(".")
            header, claims = json.loads(b64url_decode(head)), json.loads(b64url_decode(body))
            signature = b64url_decode(sig)
        except (ValueError, binascii.Error):
            raise AuthFailure("invalid_grant", "Invalid JWT: not a JSON Web Token.") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise AuthFailure("invalid_grant", "Invalid JWT: not a JSON Web Token.")
        if header.get("alg") != "RS256":
            raise AuthFailure("invalid_grant", "Invalid JWT Signature.")
        signed = f"{head}.{body}".encode()
        for key in self.candidates(header.get("kid"), claims.get("iss")):
            try:
                key.public_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                continue
            check_token_times(claims)
            return claims, key
        raise AuthFailure("invalid_grant", "Invalid JWT Signature.")

    def exchange(self, assertion: str, token_url: str) -> dict:
        """The JWT-bearer grant: `aud` must be the token endpoint, `scope` must be present."""
        claims, key = self.verify(assertion)
        if claims.get("aud") not in {token_url, key.token_uri} - {""}:
            raise AuthFailure("invalid_grant", "Invalid JWT: Failed audience check.")
        if not claims.get("scope"):
            raise AuthFailure("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        return self.issue()

    def rejects(self, authorization: str | None, host: str) -> tuple[str, str] | None:
        """None if the Authorization header holds a token this fake issued or a verified
        self-signed JWT (`scope` claim, or `aud` https://HOST/); else (reason, message)."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "CREDENTIALS_MISSING", MISSING_CREDENTIALS
        with self.lock:
            expiry = self.tokens.get(token)
        if expiry is not None:
            return None if expiry > time.time() else ("ACCESS_TOKEN_EXPIRED", INVALID_CREDENTIALS)
        if token.count(".") == 2:
            try:
                claims, _ = self.verify(token)
            except AuthFailure:
                return "ACCESS_TOKEN_TYPE_UNSUPPORTED", INVALID_CREDENTIALS
            if claims.get("scope") or claims.get("aud") == f"https://{host}/":
                return None
        return "ACCESS_TOKEN_TYPE_UNSUPPORTED", INVALID_CREDENTIALS


def unauthenticated(reason: str, message: str, host: str) -> ApiError:
    """The 401 Google answers when credentials are missing or not accepted."""
    info = {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": host},
    }
    return ApiError(401, "UNAUTHENTICATED", message, [info])


# --------------------------------------------------------------------------------------------
# GCE metadata server

NUMERIC_PROJECT = "123456789012"
METADATA_ACCOUNT = re.compile(r"/computeMetadata/v1/instance/service-accounts/([^/]+)/(.*)")


def metadata_answer(fake: Fake, path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
    """(status, content type, body) for a metadata server path, as GCE answers it."""
    project = fake.config.project
    email = f"gcp-fake@{project}.iam.gserviceaccount.com"
    texts = {
        "/": "computeMetadata/\n",
        "/computeMetadata/v1/project/project-id": project,
        "/computeMetadata/v1/project/numeric-project-id": NUMERIC_PROJECT,
        "/computeMetadata/v1/universe/universe-domain": "googleapis.com",
    }
    account = METADATA_ACCOUNT.fullmatch(path)
    if account and account.group(1) in ("default", email):
        recursive = query.get("recursive", ["false"])[0] == "true"
        details = {"aliases": ["default"], "email": email, "scopes": DEFAULT_SCOPES}
        leaf = account.group(2).rstrip("/")
        if leaf == "token":
            return 200, "application/json", json.dumps(fake.auth.issue()).encode()
        if leaf == "" and recursive:
            return 200, "application/json", json.dumps(details).encode()
        texts[path] = {
            "": "aliases\nemail\nidentity\nscopes\ntoken\n",
            "email": email,
            "aliases": "default",
            "scopes": "\n".join(DEFAULT_SCOPES) + "\n",
        }.get(leaf)
    if texts.get(path) is None:
        return 404, "text/html; charset=UTF-8", f"Not Found: {path}".encode()
    return 200, "application/text", texts[path].encode()


# --------------------------------------------------------------------------------------------
# The fake: configuration, state, requests seen, faults

HEADERS_OF_INTEREST = (
    "authorization",
    "content-type",
    "content-length",
    "content-range",
    "transfer-encoding",
    "user-agent",
    "x-goog-api-client",
    "x-goog-request-params",
    "x-goog-user-project",
    "x-goog-hash",
    "metadata-flavor",
)
FAULT_KEYS = {"status", "body", "raw", "delay_s", "headers"}


@dataclass
class Config:
    """The command line's settings."""

    gcs_upstream: str | None = None
    bq_upstream: str | None = None
    lro_polls: int = 1
    job_polls: int = 1
    require_auth: bool = False
    project: str = "fake-project"


@dataclass
class Fault:
    """Canned answers for the requests whose "METHOD /path" matches, one each, in order."""

    pattern: re.Pattern
    responses: list[dict]

    def as_dict(self) -> dict:
        return {"match": self.pattern.pattern, "responses": self.responses}


def parse_fault(spec: Any) -> Fault:
    """A fault as POSTed to /_fake/faults, checked so that a typo fails the test that made it."""
    responses = spec.get("responses") if isinstance(spec, dict) else None
    if not isinstance(responses, list) or not responses:
        raise invalid('A fault is {"match": REGEX, "responses": [{...}, ...]}.')
    for response in responses:
        if (
            not isinstance(response, dict)
            or not response
            or set(response) - FAULT_KEYS
            or not is_integer(response.get("status", 200))
            or not is_number(response.get("delay_s", 0))
        ):
            raise invalid(f"A fault response takes the keys {sorted(FAULT_KEYS)}: {response}")
    try:
        return Fault(re.compile(spec.get("match", "")), list(spec["responses"]))
    except re.error as e:
        raise invalid(f"Bad fault regex: {e}") from None


def shorten_credential(value: str) -> str:
    """Enough of an Authorization header to tell tokens apart in the request log."""
    return value if len(value) <= 40 else value[:36] + "..."


class Fake:
    """Everything the server remembers. One lock guards state, records and faults; handlers run
    under it, so they see and change resources one request at a time."""

    def __init__(self, config: Config):
        self.config = config
        self.apis = {name: Api(name, filename) for name, filename in API_FILES.items()}
        self.auth = Auth()
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        """Forget resources, requests and faults; registered keys and issued tokens stay, so a
        client holding a token keeps working."""
        with self.lock:
            self.state = State()
            self.requests: list[dict] = []
            self.faults: list[Fault] = []
            self.upload_sessions: set[str] = set()  # resumable upload URLs, through the proxy

    def keep(self, entry: dict) -> None:
        """Number a request and add it to /_fake/requests."""
        with self.lock:
            entry["index"] = len(self.requests)
            self.requests.append(entry)

    def take_fault(self, command: str, path: str) -> dict | None:
        """The next queued answer for this request, if a fault matches it (used up)."""
        with self.lock:
            for fault in self.faults:
                if fault.pattern.search(f"{command} {path}"):
                    response = fault.responses.pop(0)
                    if not fault.responses:
                        self.faults.remove(fault)
                    return response
        return None

    def issues(self) -> dict:
        """Violations and notes of every request, and the fake's own failures."""
        out: dict[str, list] = {"violations": [], "notes": [], "fake_errors": []}
        with self.lock:
            for r in self.requests:
                where = {"request": r["index"], "call": f"{r['method']} {r['path']}"}
                where["method_id"] = r["method_id"]
                out["violations"] += [{**where, **v} for v in r["violations"]]
                out["notes"] += [{**where, **n} for n in r["notes"]]
                out["fake_errors"] += [{**where, "error": e} for e in r["fake_errors"]]
        return out

    def fail_job(self, job_id: str, spec: dict) -> dict:
        """Make a pipeline job's next state change end in FAILED (control API)."""
        with self.lock:
            names = [n for n in self.state.pipeline_jobs if n == job_id or n.endswith(f"/{job_id}")]
            if not names:
                raise not_found("PipelineJob", job_id)
            job = self.state.pipeline_jobs[names[0]]
            if job["state"] in TERMINAL_JOB_STATES:
                raise ApiError(409, "FAILED_PRECONDITION", f"Job {job['name']} is {job['state']}.")
            tasks = [name for name, _, _ in pipeline_tasks(job.get("pipelineSpec", {}))]
            task = spec.get("task") or (tasks[-1] if tasks else "")
            if tasks and task not in tasks:
                raise invalid(f"Job {job['name']} has no task `{task}`; it has {tasks}.")
            message = spec.get(
                "message", "The replica workerpool0-0 exited with a non-zero status of 1."
            )
            self.state.job_progress[job["name"]].failure = {"task": task, "message": message}
            return {"name": job["name"], "task": task, "message": message}


# --------------------------------------------------------------------------------------------
# HTTP

JSON_TYPE = "application/json; charset=UTF-8"
BLOCK = 64 * 1024
MAX_JSON_BODY = 64 * 1024 * 1024
MULTIPART_SCAN = 1024 * 1024  # the JSON metadata part must start a multipart upload
UPSTREAM_TIMEOUT = 300
API_PREFIXES = (("/v1/", "aiplatform"), ("/v3/", "monitoring"))
PROXY_PREFIXES = (
    ("/storage/v1/", "storage"),
    ("/upload/storage/v1/", "storage"),
    ("/resumable/upload/storage/v1/", "storage"),
    ("/download/storage/v1/", "storage"),
    ("/bigquery/v2/", "bigquery"),
    ("/upload/bigquery/v2/", "bigquery"),
)
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "0.0.0.0", "::1"}
NO_METADATA_FLAVOR = (
    "Your client does not have permission to get URL {path} from this server. "
    "Missing Metadata-Flavor:Google header."
)


class IncomingBody:
    """The request body as the client framed it (Content-Length or chunked), read in blocks so
    large uploads stream through instead of sitting in memory."""

    def __init__(self, rfile, headers):
        self.rfile = rfile
        self.chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        self.framed = self.chunked or headers.get("Content-Length") is not None
        length = headers.get("Content-Length") or "0"
        if not self.chunked and not length.isdigit():
            raise invalid(f"Bad Content-Length: {length}")
        self.length = None if self.chunked else int(length)
        self.left = 0 if self.chunked else self.length  # in the current chunk, or in the body
        self.done = not self.chunked and self.length == 0
        self.count = 0

    def read(self, limit: int = BLOCK) -> bytes:
        """Up to `limit` bytes of the body; b"" at its end."""
        if self.done:
            return b""
        if self.chunked and self.left == 0:
            line = self.rfile.readline()
            if not line:
                raise ConnectionError("client closed the connection inside a chunked body")
            try:
                self.left = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise invalid("Malformed chunked request body.") from None
            if self.left == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                self.done = True
                return b""
        data = self.rfile.read(min(limit, self.left))
        if not data:
            raise ConnectionError("client closed the connection inside the body")
        self.left -= len(data)
        self.count += len(data)
        if self.left == 0:
            if self.chunked:
                self.rfile.readline()  # the CRLF ending the chunk
            else:
                self.done = True
        return data

    def blocks(self) -> Iterator[bytes]:
        while block := self.read():
            yield block

    def read_all(self, limit: int) -> bytes:
        """The whole body, for JSON (bounded: Google refuses larger bodies too)."""
        data = bytearray()
        for block in self.blocks():
            data += block
            if len(data) > limit:
                raise ApiError(
                    413,
                    "INVALID_ARGUMENT",
                    f"Request payload size exceeds the limit: {limit} bytes.",
                )
        return bytes(data)

    def drain(self) -> None:
        for _ in self.blocks():
            pass


def multipart_boundary(content_type: str) -> str | None:
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    return m.group(1) if m else None


def read_first_part(body: IncomingBody, boundary: str) -> tuple[bytes, bytes | None]:
    """Read a multipart body until its first part is complete: (bytes read, that part's
    content). The rest of the body stays unread, to be streamed on."""
    delimiter = b"--" + boundary.encode()
    buf = b""
    while len(buf) <= MULTIPART_SCAN:
        start = buf.find(delimiter)
        head_end = buf.find(b"\r\n\r\n", start) if start >= 0 else -1
        end = buf.find(b"\r\n" + delimiter, head_end + 4) if head_end >= 0 else -1
        if end >= 0:
            return buf, buf[head_end + 4 : end]
        block = body.read()
        if not block:
            break
        buf += block
    return buf, None


def interesting_headers(headers) -> dict[str, str]:
    out = {}
    for name in HEADERS_OF_INTEREST:
        if name in headers:
            value = headers[name]
            out[name] = shorten_credential(value) if name == "authorization" else value
    return out


class Handler(BaseHTTPRequestHandler):
    """Routes a request to the control API, the token endpoint, the metadata server, the
    Storage/BigQuery proxy or the Vertex AI/Monitoring fakes."""

    protocol_version = "HTTP/1.1"
    server_version = "gcp-fake"

    def do_GET(self):
        self.dispatch()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format, *args):
        """Quiet: dispatch() writes one line per request."""

    def send_response(self, code, message=None):
        super().send_response(code, message)
        self.responded = True
        if hasattr(self, "entry"):
            self.entry["status"] = code

    # --- plumbing

    def dispatch(self) -> None:
        """Every request: route it, answer errors in Google's shape, log one line."""
        started = time.monotonic()
        self.fake: Fake = self.server.fake
        self.url = urlsplit(self.path)
        self.responded = False
        self.body: IncomingBody | None = None
        # Every key from the start: /_fake/requests may serialise it while it is being handled.
        self.entry = {
            "index": None,
            "time": now(),
            "method": self.command,
            "path": self.url.path,
            "query": parse_qs(self.url.query, keep_blank_values=True),
            "headers": interesting_headers(self.headers),
            "api": None,
            "method_id": None,
            "body": None,
            "body_bytes": None,
            "violations": [],
            "notes": [],
            "fault": None,
            "status": None,
            "fake_errors": [],
        }
        try:
            self.body = IncomingBody(self.rfile, self.headers)
            self.route()
        except ApiError as e:
            self.answer_error(e)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            self.entry["fake_errors"].append(traceback.format_exc())
            traceback.print_exc()
            if not self.responded:
                self.send_json(
                    500, ApiError(500, "INTERNAL", "gcp_fake failed; see its stderr.").body()
                )
            self.close_connection = True
        finally:
            self.finish_body()
            self.log_line(started)

    def finish_body(self) -> None:
        """Read what is left of the body, so the connection can carry the next request."""
        try:
            if self.body is None:  # unreadable framing: the connection cannot go on
                self.close_connection = True
            else:
                self.body.drain()
        except (OSError, ValueError):
            self.close_connection = True

    def log_line(self, started: float) -> None:
        """One line per request on stderr."""
        entry = self.entry
        extra = f" VIOLATIONS={len(entry['violations'])}" if entry["violations"] else ""
        method_id = entry["method_id"] or ""
        print(
            f"gcp_fake: {self.command} {self.path} -> {entry['status']} {method_id} "
            f"({(time.monotonic() - started) * 1000:.1f} ms){extra}",
            file=sys.stderr,
        )

    def keep(self, api: str, method_id: str | None = None) -> None:
        """Record this request in /_fake/requests."""
        self.entry.update(api=api, method_id=method_id)
        self.fake.keep(self.entry)

    def send_bytes(self, status: int, data: bytes, content_type: str, headers: dict | None = None):
        """A complete answer with Content-Length (keep-alive needs one)."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_json(self, status: int, body: Any, headers: dict | None = None) -> None:
        self.send_bytes(status, json.dumps(body).encode(), JSON_TYPE, headers)

    def answer_error(self, error: ApiError) -> None:
        headers = {}
        if error.code == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
        self.send_json(error.code, error.body(self.entry["api"] or ""), headers)

    def record_issues(self, checker: Checker) -> None:
        self.entry["violations"] += [i.as_dict() for i in checker.violations]
        self.entry["notes"] += [i.as_dict() for i in checker.notes]

    def apply_fault(self, default_body: Callable[[int], bytes]) -> bool:
        """Answer with the next queued fault for this request, if any (True if it answered).
        A fault that only delays lets normal handling go on."""
        fault = self.fake.take_fault(self.command, self.url.path)
        if fault is None:
            return False
        self.entry["fault"] = fault
        time.sleep(fault.get("delay_s", 0))
        if not {"status", "raw", "body"} & fault.keys():
            return False
        self.body.drain()
        status = fault.get("status", 200)
        if "raw" in fault:
            data = str(fault["raw"]).encode()
        elif "body" in fault:
            data = json.dumps(fault["body"]).encode()
        else:
            data = default_body(status)
        self.send_bytes(status, data, JSON_TYPE, fault.get("headers"))
        return True

    def api_fault(self, api: Api) -> bool:
        return self.apply_fault(
            lambda code: json.dumps(error_for_status(code).body(api.name)).encode()
        )

    def check_auth(self, api: Api) -> None:
        if self.fake.config.require_auth:
            rejected = self.fake.auth.rejects(self.headers.get("Authorization"), api.host)
            if rejected:
                raise unauthenticated(*rejected, api.host)

    def violation_error(self, issues: list[Issue]) -> ApiError:
        pairs = [(camel_to_snake(i.field), i.message) for i in issues]
        return invalid("\n".join(i.message for i in issues), [bad_request(*pairs)])

    # --- routing

    def route(self) -> None:
        """Pick the service by path; upload session URLs handed out earlier come first."""
        path = self.url.path
        if path.startswith("/_fake/"):
            return self.control()
        if path == "/token":
            return self.token()
        if path == "/" or path.startswith("/computeMetadata/"):
            return self.metadata()
        if path + (f"?{self.url.query}" if self.url.query else "") in self.fake.upload_sessions:
            return self.proxy(self.fake.apis["storage"], session=True)
        for prefix, name in PROXY_PREFIXES:
            if path.startswith(prefix):
                return self.proxy(self.fake.apis[name])
        if path.startswith("/ui/") and "/operations" in path:
            # google-cloud-aiplatform-v1 polls operations through the first binding of
            # google.longrunning's http rule, `/ui/{name=projects/*/locations/*/.../operations/*}`;
            # Vertex AI answers it as the `/v1/` path the discovery document lists.
            self.url = self.url._replace(path="/v1/" + path[len("/ui/"):])
            self.entry["notes"].append(Issue("", "/ui/ operations path served as /v1/").as_dict())
            return self.api_call(self.fake.apis["aiplatform"])
        for prefix, name in API_PREFIXES:
            if path.startswith(prefix):
                return self.api_call(self.fake.apis[name])
        self.keep("unknown")
        message = f"No API of gcp_fake answers {self.command} {path}."
        self.entry["violations"].append(Issue("", message).as_dict())
        raise ApiError(404, "NOT_FOUND", message)

    def match(self, api: Api) -> tuple[Route, dict[str, str]]:
        """The discovery method for this request; none is a violation (404)."""
        matched = api.match(self.command, self.url.path)
        if matched is None:
            message = (
                f"The requested URL {self.url.path} was not found on this server: no method of "
                f"{api.name}'s discovery document answers {self.command} there."
            )
            self.entry["violations"].append(Issue("", message).as_dict())
            raise ApiError(404, "NOT_FOUND", message)
        self.entry["method_id"] = matched[0].method["id"]
        return matched

    def checked_json(
        self, checker: Checker, api: Api, route: Route, raw: bytes, params: dict[str, str]
    ) -> Any:
        """The body parsed and checked against the method's request schema (normalised)."""
        ref = route.method.get("request", {}).get("$ref")
        if not raw.strip():
            return {} if ref else None
        try:
            value = parse_json(raw)
        except JsonError as e:
            checker.violation(FieldPath(), str(e))
            return None
        self.entry["body"] = value
        if ref is None:
            checker.notes.append(Issue("", "a body on a method that takes none (ignored)"))
            return None
        root = api.body_root(route)
        if api.transcoded and not root and isinstance(value, dict):
            value = without_path_fields(checker, value, params)
        return checker.check({"$ref": ref}, value, FieldPath(tuple(("field", r) for r in root)))

    def new_checker(self, api: Api) -> tuple[Checker, dict[str, list[str]]]:
        query = parse_qs(self.url.query, keep_blank_values=True)
        _, options = alt_options(query)
        return Checker(api, int_enums="enum-encoding=int" in options), query

    # --- Vertex AI and Cloud Monitoring

    def api_call(self, api: Api) -> None:
        """Vertex AI / Monitoring: validate, then auth, faults, violations (400), handler."""
        self.keep(api.name)
        raw = self.body.read_all(MAX_JSON_BODY)
        route, params = self.match(api)
        checker, query = self.new_checker(api)
        query = check_query(checker, route, query)
        body = self.checked_json(checker, api, route, raw, params)
        self.record_issues(checker)
        self.check_auth(api)
        if self.api_fault(api):
            return
        if checker.violations:
            raise self.violation_error(checker.violations)
        method_id = route.method["id"]
        handler = handler_for(method_id)
        if handler is None:
            self.entry["fake_errors"].append(f"not implemented: {method_id}")
            raise ApiError(501, "UNIMPLEMENTED", f"gcp_fake does not implement {method_id}.")
        call = Call(self.fake, api, method_id, params, query, body)
        try:
            with self.fake.lock:
                result = handler(call)
                data = json.dumps(result).encode()
                self.check_response(api, route, result)
        finally:
            self.entry["violations"] += [i.as_dict() for i in call.violations]
            self.entry["notes"] += [i.as_dict() for i in call.notes]
        self.send_bytes(200, data, JSON_TYPE)

    def check_response(self, api: Api, route: Route, result: dict) -> None:
        """The fake's own answer must fit the document too (a bug in the fake otherwise)."""
        ref = route.method.get("response", {}).get("$ref")
        checker = Checker(api, int_enums=False)
        checker.check({"$ref": ref} if ref else {"type": "any"}, result, FieldPath())
        for issue in checker.violations:
            problem = f"response does not fit {ref}: {issue.field}: {issue.message}"
            self.entry["fake_errors"].append(problem)
            print(f"gcp_fake: BUG: {problem}", file=sys.stderr)

    # --- Cloud Storage and BigQuery: validate, then forward

    def proxy(self, api: Api, session: bool = False) -> None:
        """Cloud Storage / BigQuery: validate the JSON (never the media), then forward."""
        self.keep(api.name)
        upstream = (
            self.fake.config.gcs_upstream if api.name == "storage" else self.fake.config.bq_upstream
        )
        checker, query = self.new_checker(api)
        prefix = b""
        if session:
            # A resumable upload's session URL (handed out by the upstream, through us): its
            # body is media, and the session id is the credential, as on Cloud Storage.
            self.entry["method_id"] = "storage.objects.insert (resumable upload session)"
        else:
            route, _ = self.match(api)
            check_query(checker, route, query)
            prefix = self.checked_prefix(checker, api, route, query)
            self.record_issues(checker)
            self.check_auth(api)
        if self.api_fault(api):
            return
        if checker.violations:
            raise self.violation_error(checker.violations)
        if not upstream:
            raise ApiError(502, "UNAVAILABLE", f"gcp_fake has no upstream for {api.name}.")
        self.forward(upstream, prefix)
        self.entry["body_bytes"] = self.body.count

    def checked_prefix(self, checker: Checker, api: Api, route: Route, query: dict) -> bytes:
        """Read and check the JSON part of the body; return what was read, to be forwarded first.
        Media (uploads, resumable chunks) is not read here: it streams through."""
        content_type = self.headers.get("Content-Type", "")
        boundary = multipart_boundary(content_type)
        if route.media == "upload" and content_type.startswith("multipart/") and boundary:
            prefix, part = read_first_part(self.body, boundary)
            if part is None:
                checker.violation(
                    FieldPath(), "A multipart upload must start with its JSON metadata part."
                )
            else:
                self.checked_json(checker, api, route, part, {})
            return prefix
        media_body = route.media == "upload" and query.get("uploadType", [""])[0] != "resumable"
        if route.method.get("request") and not media_body and self.body.framed:
            raw = self.body.read_all(MAX_JSON_BODY)
            self.checked_json(checker, api, route, raw, {})
            return raw
        return b""

    def forward(self, upstream: str, prefix: bytes) -> None:
        """Send the request upstream as it came (JSON part first, then the rest streamed)."""
        target = urlsplit(upstream)
        conn = http.client.HTTPConnection(
            target.hostname, target.port or 80, timeout=UPSTREAM_TIMEOUT
        )
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in HOP_BY_HOP | {"host", "content-length", "expect"}:
                    conn.putheader(name, value)
            conn.putheader("Host", target.netloc)
            conn.putheader("X-Forwarded-Host", self.headers.get("Host", ""))
            blocks = (b for b in itertools.chain([prefix], self.body.blocks()) if b)
            if self.body.chunked:
                conn.putheader("Transfer-Encoding", "chunked")
                conn.endheaders()
                for block in blocks:
                    conn.send(b"%x\r\n%s\r\n" % (len(block), block))
                conn.send(b"0\r\n\r\n")
            else:
                if self.body.framed:
                    conn.putheader("Content-Length", str(self.body.length))
                conn.endheaders()
                for block in blocks:
                    conn.send(block)
            self.relay(conn.getresponse(), target)
        except (ConnectionRefusedError, http.client.HTTPException, TimeoutError) as e:
            if self.responded:
                raise ConnectionError(f"upstream {upstream} failed mid-answer: {e}") from e
            raise ApiError(502, "UNAVAILABLE", f"gcp_fake could not reach {upstream}: {e}") from e
        finally:
            conn.close()

    def relay(self, response: http.client.HTTPResponse, target) -> None:
        """Pass the upstream's answer through: status, headers (Location pointed back at us),
        body streamed."""
        self.send_response(response.status, response.reason)
        for name, value in response.getheaders():
            lower = name.lower()
            if lower in HOP_BY_HOP or lower in ("server", "date"):
                continue
            if lower == "location":
                value = self.local_location(value, target)
            self.send_header(name, value)
        bodyless = self.command == "HEAD" or response.status in (204, 304) or response.status < 200
        chunked = not bodyless and response.getheader("Content-Length") is None
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if bodyless:
            return
        while block := response.read(BLOCK):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block) if chunked else block)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def local_location(self, location: str, target) -> str:
        """Point a Location at this proxy, so the client comes back through it: always for an
        upload's session URL (remembered, so its chunks are passed on as media), otherwise
        when it names the upstream itself."""
        loc = urlsplit(location)
        session = self.url.path.startswith(("/upload/", "/resumable/"))
        try:
            # No port: the upstream built the URL from a Host header without one (Google's
            # Rust storage client sends `Host: 127.0.0.1`), so it means the upstream too.
            same_port = loc.port is None or loc.port == (target.port or 80)
            upstream = loc.netloc == target.netloc or (
                loc.hostname in LOOPBACK_NAMES and same_port
            )
        except ValueError:  # a port that is not a number
            return location
        if not loc.netloc or not (session or upstream):
            return location
        if session:
            with self.fake.lock:
                self.fake.upload_sessions.add(loc.path + (f"?{loc.query}" if loc.query else ""))
        # The client's Host may lack our port for the same reason: always name it.
        port = self.server.server_address[1]
        try:
            hostname = urlsplit(f"//{self.headers.get('Host', '')}").hostname
        except ValueError:
            hostname = None
        host = f"{hostname or '127.0.0.1'}:{port}"
        return urlunsplit(("http", host, loc.path, loc.query, loc.fragment))

    # --- OAuth2 token endpoint

    def token(self) -> None:
        """The OAuth2 token endpoint (JWT-bearer grant only), as service-account clients use it."""
        self.keep("oauth2", "oauth2.token")
        raw = self.body.read_all(1024 * 1024)
        form = parse_qs(raw.decode("utf-8", "replace"))
        grant = form.get("grant_type", [""])[0]
        self.entry["body"] = {"grant_type": grant}
        if self.apply_fault(
            lambda code: json.dumps({"error": STATUS_OF_HTTP.get(code, "error").lower()}).encode()
        ):
            return
        if self.command != "POST" or grant != JWT_BEARER:
            return self.send_json(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": f"Invalid grant_type: {grant}",
                },
            )
        token_url = f"http://{self.headers.get('Host', '')}{self.url.path}"
        try:
            answer = self.fake.auth.exchange(form.get("assertion", [""])[0], token_url)
        except AuthFailure as e:
            return self.send_json(400, {"error": e.error, "error_description": e.description})
        self.send_json(
            200, answer, {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"}
        )

    # --- GCE metadata server

    def metadata(self) -> None:
        """The GCE metadata server: every path needs `Metadata-Flavor: Google`."""
        self.keep("metadata", "metadata.get")
        if self.headers.get("Metadata-Flavor") != "Google":
            text = NO_METADATA_FLAVOR.format(path=self.url.path)
            return self.send_bytes(403, text.encode(), "text/html; charset=UTF-8")
        if self.apply_fault(lambda code: f"{code}".encode()):
            return
        query = parse_qs(self.url.query)
        status, content_type, data = metadata_answer(self.fake, self.url.path, query)
        self.send_bytes(status, data, content_type, {"Metadata-Flavor": "Google"})

    # --- control API

    def control(self) -> None:
        """The /_fake/ endpoints (see the module docstring)."""
        fake, command, path = self.fake, self.command, self.url.path
        if command == "GET" and path == "/_fake/requests":
            with fake.lock:
                data = json.dumps({"requests": fake.requests}).encode()
            return self.send_bytes(200, data, JSON_TYPE)
        if command == "GET" and path == "/_fake/violations":
            return self.send_json(200, fake.issues())
        if command == "GET" and path == "/_fake/state":
            with fake.lock:
                data = json.dumps(fake.state.dump()).encode()
            return self.send_bytes(200, data, JSON_TYPE)
        if command == "GET" and path == "/_fake/faults":
            with fake.lock:
                return self.send_json(200, {"faults": [f.as_dict() for f in fake.faults]})
        if command != "POST":
            raise ApiError(404, "NOT_FOUND", f"No control endpoint {command} {path}.")
        spec = self.control_body()
        if path == "/_fake/reset":
            fake.reset()
            return self.send_json(200, {})
        if path == "/_fake/faults":
            fault = parse_fault(spec)
            with fake.lock:
                fake.faults.append(fault)
            return self.send_json(200, {"queued": len(fault.responses)})
        if path == "/_fake/keys":
            key = fake.auth.register(spec)
            return self.send_json(
                200, {"client_email": key.client_email, "private_key_id": key.key_id}
            )
        job = re.fullmatch(r"/_fake/jobs/(.+)/fail", path)
        if job:
            return self.send_json(200, fake.fail_job(unquote(job.group(1)), spec))
        raise ApiError(404, "NOT_FOUND", f"No control endpoint {command} {path}.")

    def control_body(self) -> dict:
        """A control request's JSON object (empty body: {})."""
        raw = self.body.read_all(MAX_JSON_BODY)
        try:
            spec = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as e:
            raise invalid(f"Control request body is not JSON: {e}") from None
        if not isinstance(spec, dict):
            raise invalid("Control request body must be a JSON object.")
        return spec


class Server(ThreadingHTTPServer):
    """One thread per connection; those threads never hold up shutdown."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], fake: Fake):
        super().__init__(address, Handler)
        self.fake = fake


# --------------------------------------------------------------------------------------------
# CLI


def write_port_file(path: str, port: int) -> None:
    """Atomically (temp file + rename), so a reader never sees a half-written port."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".gcp_fake_port.")
    with os.fdopen(fd, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


def upstream_url(text: str) -> str:
    url = urlsplit(text)
    if url.scheme != "http" or not url.hostname:
        raise argparse.ArgumentTypeError(f"an upstream is http://HOST:PORT, not {text}")
    return text


def main(argv: list[str]) -> int:
    """gcp_fake.py serve ...: run until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="gcp_fake.py", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the fake until SIGTERM/SIGINT")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve.add_argument("--port-file", help="write the port here once listening")
    serve.add_argument("--gcs-upstream", type=upstream_url, help="fake-gcs-server URL")
    serve.add_argument("--bq-upstream", type=upstream_url, help="bqemulator URL")
    serve.add_argument(
        "--lro-polls", type=int, default=1, help="an LRO is done at its N-th GET (0: at once)"
    )
    serve.add_argument(
        "--job-polls", type=int, default=1, help="GETs per pipeline job state change"
    )
    serve.add_argument(
        "--require-auth", action="store_true", help="API calls need a valid token (else 401)"
    )
    serve.add_argument("--project", default="fake-project", help="metadata server's project")
    args = parser.parse_args(argv)

    config = Config(
        gcs_upstream=args.gcs_upstream,
        bq_upstream=args.bq_upstream,
        lro_polls=args.lro_polls,
        job_polls=args.job_polls,
        require_auth=args.require_auth,
        project=args.project,
    )
    server = Server(("127.0.0.1", args.port), Fake(config))
    port = server.server_address[1]

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=kfp_ir, daemon=True).start()
    if args.port_file:
        write_port_file(args.port_file, port)
    print(f"gcp_fake: listening on http://127.0.0.1:{port}", file=sys.stderr)
    server.serve_forever(poll_interval=0.1)
    server.server_close()
    print("gcp_fake: stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
