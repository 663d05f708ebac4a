"""Self-test of gcp_fake.py: runs the fake as a subprocess (twice: as is, and with
--require-auth) plus a tiny upstream HTTP server standing in for fake-gcs-server, and talks to
them over loopback HTTP only.

  python tests/python/test_gcp_fake.py
"""

import base64
import copy
import http.client
import json
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote, urlencode, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

FAKE = Path(__file__).resolve().parent / "gcp_fake.py"
LOC = "projects/p/locations/us-central1"
INT_ENUMS = "$alt=json;enum-encoding=int"
DATASET = {"artifactType": {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"}}


def container(component: str) -> dict:
    args = ["--executor-input", "{{$}}", "--component", component]
    return {"container": {"image": "example.com/mlops:1", "command": ["mlops"], "args": args}}


# A minimal KFP IR (two tasks, one artifact between them) that kfp_ir.py's strict parse accepts.
PIPELINE_SPEC = {
    "schemaVersion": "2.1.0",
    "sdkVersion": "gcp-fake-selftest",
    "pipelineInfo": {"name": "selftest"},
    "root": {
        "inputDefinitions": {
            "parameters": {
                "data_path": {"parameterType": "STRING"},
                "learning_rate": {
                    "parameterType": "NUMBER_DOUBLE",
                    "defaultValue": 0.1,
                    "isOptional": True,
                },
            }
        },
        "dag": {
            "tasks": {
                "extract": {
                    "taskInfo": {"name": "extract"},
                    "componentRef": {"name": "comp-extract"},
                    "inputs": {"parameters": {"source": {"componentInputParameter": "data_path"}}},
                },
                "train": {
                    "taskInfo": {"name": "train"},
                    "componentRef": {"name": "comp-train"},
                    "dependentTasks": ["extract"],
                    "inputs": {
                        "artifacts": {
                            "dataset": {
                                "taskOutputArtifact": {
                                    "producerTask": "extract",
                                    "outputArtifactKey": "dataset",
                                }
                            }
                        },
                        "parameters": {
                            "learning_rate": {"componentInputParameter": "learning_rate"}
                        },
                    },
                },
            }
        },
    },
    "components": {
        "comp-extract": {
            "executorLabel": "exec-extract",
            "inputDefinitions": {"parameters": {"source": {"parameterType": "STRING"}}},
            "outputDefinitions": {"artifacts": {"dataset": DATASET}},
        },
        "comp-train": {
            "executorLabel": "exec-train",
            "inputDefinitions": {
                "artifacts": {"dataset": DATASET},
                "parameters": {"learning_rate": {"parameterType": "NUMBER_DOUBLE"}},
            },
        },
    },
    "deploymentSpec": {
        "executors": {"exec-extract": container("extract"), "exec-train": container("train")}
    },
}


def pipeline_job(**runtime) -> dict:
    return {
        "displayName": "selftest",
        "pipelineSpec": copy.deepcopy(PIPELINE_SPEC),
        "runtimeConfig": {
            "gcsOutputDirectory": "gs://bucket/root",
            "parameterValues": {"data_path": "gs://bucket/data.csv"},
            **runtime,
        },
    }


class Response:
    def __init__(self, status: int, headers: http.client.HTTPMessage, data: bytes):
        self.status, self.headers, self.data = status, headers, data

    def json(self):
        return json.loads(self.data)


def send(port: int, method: str, path: str, body=None, headers=None) -> Response:
    """One HTTP request to 127.0.0.1:port; a dict body goes as JSON, bytes or an iterator of
    bytes as they are (an iterator chunked)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = dict(headers or {})
    if isinstance(body, dict):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return Response(response.status, response.headers, response.read())
    finally:
        conn.close()


class FakeProcess:
    """gcp_fake.py serve, on a free port read from its --port-file."""

    def __init__(self, *args: str):
        self.dir = tempfile.TemporaryDirectory()
        self.port_file = Path(self.dir.name) / "port"
        self.log = Path(self.dir.name) / "stderr.log"
        command = [sys.executable, str(FAKE), "serve", "--port-file", str(self.port_file)]
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [*command, *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log
            )
        self.port = 0

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.port_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gcp_fake did not start:\n{self.log.read_text()}")
            time.sleep(0.05)
        self.port = int(self.port_file.read_text())

    def call(self, method: str, path: str, body=None, headers=None) -> Response:
        return send(self.port, method, path, body, headers)

    def stop(self) -> tuple[int, str]:
        """SIGTERM; (exit code, stderr)."""
        self.process.terminate()
        try:
            code = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        log = self.log.read_text()
        self.dir.cleanup()
        return code, log


class Upstream(BaseHTTPRequestHandler):
    """Stands in for fake-gcs-server: records what reaches it, answers like it would."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[dict]] = []
    download = bytes(range(256)) * 12_000  # 3 MB

    def log_message(self, format, *args):
        pass

    def body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            data = b""
            while size := int(self.rfile.readline().split(b";")[0], 16):
                data += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return data
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def answer(self, status: int, data: bytes, headers=None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.handle_any()

    do_POST = do_PUT = do_GET

    def handle_any(self):
        body = self.body()
        Upstream.seen.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        )
        port = self.server.server_address[1]
        if "uploadType=resumable" in self.path and self.command == "POST":
            # fake-gcs-server's session URL, on the address it was told is its own
            session = f"http://0.0.0.0:{port}/upload/resumable/s1"
            if "name=portless" in self.path:
                # fake-gcs-server building the URL from a Host header without the port.
                session = "http://127.0.0.1/upload/storage/v1/b/bkt/o?upload_id=s2"
            return self.answer(200, b"", {"Location": session})
        if "alt=media" in self.path:
            return self.answer(200, self.download, {"Content-Type": "application/octet-stream"})
        echo = {"kind": "storage#object", "name": "echo", "size": str(len(body))}
        self.answer(200, json.dumps(echo).encode(), {"Content-Type": "application/json"})


def setUpModule():
    global FAKE_PLAIN, FAKE_AUTH, UPSTREAM
    UPSTREAM = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=UPSTREAM.serve_forever, daemon=True).start()
    gcs = f"http://127.0.0.1:{UPSTREAM.server_address[1]}"
    FAKE_PLAIN = FakeProcess("--gcs-upstream", gcs, "--lro-polls", "1", "--job-polls", "1")
    FAKE_AUTH = FakeProcess("--require-auth", "--lro-polls", "0")
    FAKE_PLAIN.wait_ready()
    FAKE_AUTH.wait_ready()


def tearDownModule():
    """Stop both fakes (SIGTERM) and check that they exited cleanly."""
    UPSTREAM.shutdown()
    for code, log in [fake.stop() for fake in (FAKE_PLAIN, FAKE_AUTH)]:
        assert code == 0 and log.rstrip().endswith("gcp_fake: stopped"), log[-2000:]


class FakeTestCase(unittest.TestCase):
    """Each test starts from an empty fake, and ends with no bug of the fake's own recorded."""

    fake: FakeProcess

    def setUp(self):
        self.fake = FAKE_PLAIN
        self.fake.call("POST", "/_fake/reset")

    def tearDown(self):
        errors = self.fake.call("GET", "/_fake/violations").json()["fake_errors"]
        self.assertEqual(errors, [], "the fake failed or answered outside its own schema")

    def call(self, method, path, body=None, headers=None) -> Response:
        return self.fake.call(method, path, body, headers)

    def ok(self, method, path, body=None) -> dict:
        response = self.call(method, path, body)
        self.assertEqual(response.status, 200, response.data.decode())
        return response.json()

    def violations(self) -> list[dict]:
        return self.call("GET", "/_fake/violations").json()["violations"]

    def wait_operation(self, op: dict) -> dict:
        for _ in range(5):
            if op.get("done"):
                return op
            op = self.ok("GET", f"/v1/{op['name']}")
        self.fail(f"operation never done: {op}")


class VertexTests(FakeTestCase):
    def create_job(self, job_id: str, job=None) -> dict:
        path = f"/v1/{LOC}/pipelineJobs?pipelineJobId={job_id}&{INT_ENUMS}"
        return self.ok("POST", path, job or pipeline_job())

    def test_pipeline_job_moves_through_states_with_task_details(self):
        job = self.create_job("run-1")
        self.assertEqual(job["name"], f"{LOC}/pipelineJobs/run-1")
        self.assertEqual(job["state"], "PIPELINE_STATE_PENDING")
        states = [self.ok("GET", f"/v1/{job['name']}")["state"] for _ in range(3)]
        self.assertEqual(
            states,
            ["PIPELINE_STATE_RUNNING", "PIPELINE_STATE_SUCCEEDED", "PIPELINE_STATE_SUCCEEDED"],
        )
        done = self.ok("GET", f"/v1/{job['name']}")
        tasks = {t["taskName"]: t["state"] for t in done["jobDetail"]["taskDetails"]}
        self.assertEqual(tasks, {"extract": "SUCCEEDED", "train": "SUCCEEDED"})
        self.assertEqual(self.violations(), [])
        listed = self.ok("GET", f"/v1/{LOC}/pipelineJobs?filter=display_name%3D%22selftest%22")
        self.assertEqual([j["name"] for j in listed["pipelineJobs"]], [job["name"]])

    def test_failing_a_job_through_the_control_api(self):
        job = self.create_job("run-2")
        failed = self.ok("POST", "/_fake/jobs/run-2/fail", {"task": "extract", "message": "boom"})
        self.assertEqual(failed["task"], "extract")
        done = self.ok("GET", f"/v1/{job['name']}")
        self.assertEqual(done["state"], "PIPELINE_STATE_FAILED")
        self.assertIn("[extract]", done["error"]["message"])
        tasks = {t["taskName"]: t for t in done["jobDetail"]["taskDetails"]}
        self.assertEqual(tasks["extract"]["state"], "FAILED")
        self.assertEqual(tasks["extract"]["error"]["message"], "boom")
        self.assertEqual(tasks["train"]["state"], "NOT_TRIGGERED")

    def test_unknown_field_is_rejected_with_its_path(self):
        response = self.call(
            "POST", f"/v1/{LOC}/pipelineJobs", pipeline_job(parameterValuez={"a": 1})
        )
        self.assertEqual(response.status, 400)
        error = response.json()["error"]
        self.assertEqual(error["status"], "INVALID_ARGUMENT")
        self.assertIn(
            "Unknown name \"parameterValuez\" at 'pipeline_job.runtime_config'", error["message"]
        )
        fields = [v["field"] for v in self.violations()]
        self.assertEqual(fields, ["pipelineJob.runtimeConfig.parameterValuez"])

    def test_enums_are_names_or_numbers_with_enum_encoding_int(self):
        wrong = self.call(
            "POST", f"/v1/{LOC}/pipelineJobs", pipeline_job(failurePolicy="FAIL_SOMETIMES")
        )
        self.assertEqual(wrong.status, 400)
        self.assertIn(
            "pipeline_job.runtime_config.failure_policy", wrong.json()["error"]["message"]
        )
        as_number = pipeline_job(failurePolicy=2)
        self.assertEqual(self.call("POST", f"/v1/{LOC}/pipelineJobs", as_number).status, 400)
        job = self.create_job("run-3", as_number)  # same body, with $alt=json;enum-encoding=int
        self.assertEqual(job["runtimeConfig"]["failurePolicy"], "PIPELINE_FAILURE_POLICY_FAIL_FAST")
        self.assertEqual(len(self.violations()), 2)

    def test_pipeline_spec_must_pass_the_strict_kfp_check(self):
        job = pipeline_job()
        job["pipelineSpec"]["root"]["dag"]["tasks"]["train"]["cachingOptionz"] = {}
        response = self.call("POST", f"/v1/{LOC}/pipelineJobs", job)
        self.assertEqual(response.status, 400)
        self.assertIn("cachingOptionz", response.json()["error"]["message"])
        self.assertEqual([v["field"] for v in self.violations()], ["pipelineJob.pipelineSpec"])
        unknown_parameter = pipeline_job(parameterValues={"data_path": "x", "epochs": 3})
        self.assertEqual(
            self.call("POST", f"/v1/{LOC}/pipelineJobs", unknown_parameter).status, 400
        )

    def test_models_versions_and_aliases(self):
        # Google's Rust client sends a `body: "*"` request whole, path fields included.
        upload = {
            "parent": LOC,
            "model": {"displayName": "churn", "artifactUri": "gs://b/m1"},
            "modelId": "churn",
        }
        op = self.ok("POST", f"/v1/{LOC}/models:upload", upload)
        self.assertNotIn("done", op)
        done = self.wait_operation(op)
        response = done["response"]
        self.assertEqual(
            response["@type"], "type.googleapis.com/google.cloud.aiplatform.v1.UploadModelResponse"
        )
        self.assertEqual(
            (response["model"], response["modelVersionId"]), (f"{LOC}/models/churn", "1")
        )
        second = {
            "parentModel": f"{LOC}/models/churn",
            "model": {"displayName": "churn", "versionAliases": ["challenger"]},
        }
        self.wait_operation(self.ok("POST", f"/v1/{LOC}/models:upload", second))
        model = f"/v1/{LOC}/models/churn"
        self.assertEqual(self.ok("GET", f"{model}@challenger")["versionId"], "2")
        self.assertEqual(self.ok("GET", model)["versionId"], "1")  # the default version
        merge = {"name": f"{LOC}/models/churn@1", "versionAliases": ["challenger"]}
        merged = self.ok("POST", f"{model}@1:mergeVersionAliases", merge)
        self.assertEqual(sorted(merged["versionAliases"]), ["challenger", "default"])
        self.assertEqual(self.ok("GET", f"{model}@challenger")["versionId"], "1")
        self.assertNotIn("versionAliases", self.ok("GET", f"{model}@2"))
        self.ok("POST", f"{model}@1:mergeVersionAliases", {"versionAliases": ["-challenger"]})
        self.assertEqual(self.call("GET", f"{model}@challenger").status, 404)
        versions = self.ok("GET", f"{model}:listVersions")["models"]
        self.assertEqual([v["versionId"] for v in versions], ["1", "2"])
        listed = self.ok("GET", f"/v1/{LOC}/models?filter=display_name%3D%22churn%22")
        self.assertEqual(len(listed["models"]), 1)

    def test_endpoint_deploy_with_traffic_split(self):
        upload = {"model": {"displayName": "m"}, "modelId": "m"}
        self.wait_operation(self.ok("POST", f"/v1/{LOC}/models:upload", upload))
        op = self.ok("POST", f"/v1/{LOC}/endpoints?endpointId=ep", {"displayName": "ep"})
        endpoint = self.wait_operation(op)["response"]["name"]
        deploy = {
            "deployedModel": {"model": f"{LOC}/models/m@1", "displayName": "m"},
            "trafficSplit": {"0": 100},
        }
        done = self.wait_operation(self.ok("POST", f"/v1/{endpoint}:deployModel", deploy))
        deployed_id = done["response"]["deployedModel"]["id"]
        self.assertEqual(self.ok("GET", f"/v1/{endpoint}")["trafficSplit"], {deployed_id: 100})
        undeploy = {"deployedModelId": deployed_id}
        self.wait_operation(self.ok("POST", f"/v1/{endpoint}:undeployModel", undeploy))
        self.assertNotIn("deployedModels", self.ok("GET", f"/v1/{endpoint}"))

    def test_schedule_pause_resume_patch(self):
        schedule = {
            "displayName": "nightly",
            "cron": "0 3 * * *",
            "maxConcurrentRunCount": "1",
            "createPipelineJobRequest": {"parent": LOC, "pipelineJob": pipeline_job()},
        }
        created = self.ok("POST", f"/v1/{LOC}/schedules", schedule)
        name = created["name"]
        self.ok("POST", f"/v1/{name}:pause", {})
        self.assertEqual(self.ok("GET", f"/v1/{name}")["state"], "PAUSED")
        self.ok("POST", f"/v1/{name}:resume", {})
        patched = self.ok("PATCH", f"/v1/{name}?updateMask=cron", {"cron": "0 4 * * *"})
        self.assertEqual((patched["state"], patched["cron"]), ("ACTIVE", "0 4 * * *"))

    def test_experiment_metadata(self):
        store = f"/v1/{LOC}/metadataStores/default"
        experiment = {"displayName": "exp", "schemaTitle": "system.Experiment", "metadata": {}}
        parent = self.ok("POST", f"{store}/contexts?contextId=exp", experiment)["name"]
        run = self.ok("POST", f"{store}/contexts?contextId=exp-run-1", {"displayName": "run 1"})
        self.ok("POST", f"/v1/{parent}:addContextChildren", {"childContexts": [run["name"]]})
        self.assertEqual(self.ok("GET", f"/v1/{run['name']}")["parentContexts"], [parent])
        execution = self.ok("POST", f"{store}/executions", {"state": "RUNNING"})
        artifact = self.ok("POST", f"{store}/artifacts", {"uri": "gs://b/m", "state": "LIVE"})
        links = {"executions": [execution["name"]], "artifacts": [artifact["name"]]}
        self.ok("POST", f"/v1/{run['name']}:addContextArtifactsAndExecutions", links)
        patch = {"metadata": {"auc": 0.9}}
        patched = self.ok("PATCH", f"/v1/{run['name']}?updateMask=metadata", patch)
        self.assertEqual(patched["metadata"], {"auc": 0.9})
        listed = self.ok("GET", f"{store}/contexts?filter=display_name%3D%22exp%22")
        self.assertEqual([c["name"] for c in listed["contexts"]], [parent])
        duplicate = self.call("POST", f"{store}/contexts?contextId=exp", experiment)
        self.assertEqual(duplicate.json()["error"]["status"], "ALREADY_EXISTS")

    def test_metadata_store_is_created_by_an_operation(self):
        store = f"{LOC}/metadataStores/default"
        missing = self.call("GET", f"/v1/{store}")
        self.assertEqual(missing.status, 404)
        op = self.ok("POST", f"/v1/{LOC}/metadataStores?metadataStoreId=default", {})
        self.assertTrue(op["name"].startswith(f"{store}/operations/"))
        self.assertTrue(self.ok("GET", f"/v1/{op['name']}")["done"])
        self.assertEqual(self.ok("GET", f"/v1/{store}")["name"], store)
        again = self.call("POST", f"/v1/{LOC}/metadataStores?metadataStoreId=default", {})
        self.assertEqual(again.json()["error"]["status"], "ALREADY_EXISTS")

    def test_a_method_not_in_the_discovery_document_is_a_violation(self):
        response = self.call("POST", f"/v1/{LOC}/pipelineJobs/x:explode", {})
        self.assertEqual(response.status, 404)
        self.assertEqual(response.json()["error"]["status"], "NOT_FOUND")
        self.assertEqual(len(self.violations()), 1)


class MonitoringTests(FakeTestCase):
    @staticmethod
    def series(i: int, end: str = "2026-01-01T00:00:00Z", points: int = 1) -> dict:
        point = {"interval": {"endTime": end}, "value": {"doubleValue": 0.5}}
        return {
            "metric": {"type": "custom.googleapis.com/mlops/auc", "labels": {"run": str(i)}},
            "resource": {"type": "global", "labels": {"project_id": "p"}},
            "points": [point] * points,
        }

    def test_time_series_limits_use_googles_texts(self):
        too_many = self.call(
            "POST",
            "/v3/projects/p/timeSeries",
            {"timeSeries": [self.series(i) for i in range(201)]},
        )
        self.assertEqual(too_many.status, 400)
        self.assertEqual(
            too_many.json()["error"]["message"],
            "Field timeSeries had an invalid value: "
            "A maximum of 200 TimeSeries can be written in a single request.",
        )
        two_points = self.call(
            "POST", "/v3/projects/p/timeSeries", {"timeSeries": [self.series(0, points=2)]}
        )
        self.assertEqual(two_points.status, 400)
        self.assertIn(
            "Only one point can be written per TimeSeries", two_points.json()["error"]["message"]
        )

    def test_time_series_written_then_read_back_by_metric_type(self):
        self.ok("POST", "/v3/projects/p/timeSeries", {"timeSeries": [self.series(1)]})
        again = self.call("POST", "/v3/projects/p/timeSeries", {"timeSeries": [self.series(1)]})
        self.assertIn("Points must be written in order", again.json()["error"]["message"])
        metric_filter = quote('metric.type = "custom.googleapis.com/mlops/auc"')
        listed = self.ok(
            "GET",
            f"/v3/projects/p/timeSeries?filter={metric_filter}"
            "&interval.endTime=2026-01-02T00:00:00Z&interval.startTime=2025-12-31T00:00:00Z",
        )
        self.assertEqual(len(listed["timeSeries"]), 1)
        self.assertEqual(listed["timeSeries"][0]["points"][0]["value"], {"doubleValue": 0.5})
        self.assertEqual(listed["timeSeries"][0]["valueType"], "DOUBLE")

    def test_alert_policy_create_list_patch(self):
        condition = {
            "displayName": "auc low",
            "conditionThreshold": {
                "filter": 'metric.type = "custom.googleapis.com/mlops/auc"',
                "comparison": 3,  # COMPARISON_LT, as Google's Rust client sends it
                "thresholdValue": 0.7,
                "duration": "0s",
                "aggregations": [{"alignmentPeriod": "300s", "perSeriesAligner": 12}],
            },
        }
        policy = {"displayName": "auc", "combiner": "OR", "conditions": [condition]}
        created = self.ok("POST", f"/v3/projects/p/alertPolicies?{INT_ENUMS}", policy)
        threshold = created["conditions"][0]["conditionThreshold"]
        self.assertEqual(threshold["aggregations"][0]["perSeriesAligner"], "ALIGN_MEAN")
        self.assertEqual(threshold["comparison"], "COMPARISON_LT")
        listed = self.ok("GET", "/v3/projects/p/alertPolicies?filter=display_name%3D%22auc%22")
        self.assertEqual(listed["totalSize"], 1)
        patched = self.ok("PATCH", f"/v3/{created['name']}?updateMask=enabled", {"enabled": False})
        self.assertEqual((patched["enabled"], patched["displayName"]), (False, "auc"))
        bad = self.call("POST", "/v3/projects/p/alertPolicies", {**policy, "combiner": "XOR"})
        self.assertEqual(bad.status, 400)

    def test_descriptors_and_channels(self):
        descriptor = self.ok("GET", "/v3/projects/p/notificationChannelDescriptors/slack")
        self.assertEqual(descriptor["type"], "slack")
        channel = {"type": "slack", "displayName": "ops", "labels": {"channel_name": "#ops"}}
        name = self.ok("POST", "/v3/projects/p/notificationChannels", channel)["name"]
        patch = {"displayName": "ops-2"}
        self.ok("PATCH", f"/v3/{name}?updateMask=display_name", patch)
        self.assertEqual(self.ok("GET", f"/v3/{name}")["displayName"], "ops-2")
        self.ok("DELETE", f"/v3/{name}")
        self.assertEqual(self.call("GET", f"/v3/{name}").status, 404)
        metric = {"type": "custom.googleapis.com/mlops/auc", "metricKind": 1, "valueType": 3}
        created = self.ok("POST", f"/v3/projects/p/metricDescriptors?{INT_ENUMS}", metric)
        self.assertEqual((created["metricKind"], created["valueType"]), ("GAUGE", "DOUBLE"))
        self.ok("GET", f"/v3/{created['name']}")
        self.ok("DELETE", f"/v3/{created['name']}")


class FaultTests(FakeTestCase):
    def test_429_then_normal_answer(self):
        fault = {"match": "^GET /v1/.*/models$", "responses": [{"status": 429}]}
        self.ok("POST", "/_fake/faults", fault)
        first = self.call("GET", f"/v1/{LOC}/models")
        self.assertEqual(first.status, 429)
        self.assertEqual(first.json()["error"]["status"], "RESOURCE_EXHAUSTED")
        self.assertEqual(self.call("GET", f"/v1/{LOC}/models").status, 200)

    def test_raw_malformed_json(self):
        fault = {"match": "pipelineJobs", "responses": [{"raw": "not json{", "status": 200}]}
        self.ok("POST", "/_fake/faults", fault)
        response = self.call("GET", f"/v1/{LOC}/pipelineJobs")
        self.assertEqual((response.status, response.data), (200, b"not json{"))


def service_account(email: str, key_id: str, token_uri: str):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "client_email": email,
        "private_key_id": key_id,
        "private_key": pem,
        "token_uri": token_uri,
    }
    return key, info


def signed_jwt(key, key_id: str, claims: dict) -> str:
    def encode(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = {"alg": "RS256", "typ": "JWT", "kid": key_id}
    signing_input = f"{encode(json.dumps(header).encode())}.{encode(json.dumps(claims).encode())}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{encode(signature)}"


class AuthTests(FakeTestCase):
    EMAIL = "ci@p.iam.gserviceaccount.com"

    def setUp(self):
        self.fake = FAKE_AUTH
        self.token_url = f"http://127.0.0.1:{self.fake.port}/token"
        self.key, info = service_account(self.EMAIL, "k1", self.token_url)
        self.ok("POST", "/_fake/keys", info)

    def claims(self, **extra) -> dict:
        t = int(time.time())
        return {"iss": self.EMAIL, "iat": t, "exp": t + 3600, **extra}

    def exchange(self, assertion: str) -> Response:
        grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
        form = urlencode({"grant_type": grant, "assertion": assertion})
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self.call("POST", "/token", form.encode(), headers)

    def test_token_exchange_accepts_a_valid_assertion_and_rejects_a_bad_signature(self):
        scope = "https://www.googleapis.com/auth/cloud-platform"
        good = self.exchange(
            signed_jwt(self.key, "k1", self.claims(aud=self.token_url, scope=scope))
        )
        self.assertEqual(good.status, 200, good.data)
        token = good.json()
        self.assertTrue(token["access_token"].startswith("ya29.fake-"))
        self.assertEqual((token["expires_in"], token["token_type"]), (3600, "Bearer"))
        other, _ = service_account(self.EMAIL, "k1", self.token_url)
        forged = self.exchange(
            signed_jwt(other, "k1", self.claims(aud=self.token_url, scope=scope))
        )
        self.assertEqual(forged.status, 400)
        self.assertEqual(
            forged.json(), {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        )
        expired = self.claims(aud=self.token_url, scope=scope, exp=int(time.time()) - 10)
        self.assertEqual(self.exchange(signed_jwt(self.key, "k1", expired)).status, 400)

        path = f"/v1/{LOC}/models"
        bearer = {"Authorization": f"Bearer {token['access_token']}"}
        self.assertEqual(self.call("GET", path, headers=bearer).status, 200)
        missing = self.call("GET", path)
        self.assertEqual(missing.status, 401)
        self.assertEqual(missing.json()["error"]["status"], "UNAUTHENTICATED")
        self_signed = signed_jwt(self.key, "k1", self.claims(scope=scope, aud=None))
        jwt_bearer = {"Authorization": f"Bearer {self_signed}"}
        self.assertEqual(self.call("GET", path, headers=jwt_bearer).status, 200)
        unknown = {"Authorization": "Bearer ya29.not-issued-here"}
        self.assertEqual(self.call("GET", path, headers=unknown).status, 401)

    def test_metadata_server_needs_the_flavor_header(self):
        path = "/computeMetadata/v1/project/project-id"
        self.assertEqual(self.call("GET", path).status, 403)
        flavored = self.call("GET", path, headers={"Metadata-Flavor": "Google"})
        self.assertEqual((flavored.status, flavored.data), (200, b"fake-project"))
        self.assertEqual(flavored.headers["Metadata-Flavor"], "Google")
        token_path = "/computeMetadata/v1/instance/service-accounts/default/token?scopes=x"
        token = self.call("GET", token_path, headers={"Metadata-Flavor": "Google"}).json()
        bearer = {"Authorization": f"Bearer {token['access_token']}"}
        self.assertEqual(self.call("GET", f"/v1/{LOC}/models", headers=bearer).status, 200)
        account = "/computeMetadata/v1/instance/service-accounts/default/?recursive=true"
        details = self.call("GET", account, headers={"Metadata-Flavor": "Google"}).json()
        self.assertEqual(details["aliases"], ["default"])


class ProxyTests(FakeTestCase):
    def setUp(self):
        super().setUp()
        Upstream.seen.clear()

    def test_json_is_validated_then_passed_through(self):
        bucket = {"name": "bkt", "location": "US"}
        answer = self.ok("POST", "/storage/v1/b?project=p", bucket)
        self.assertEqual(answer["kind"], "storage#object")
        self.assertEqual(json.loads(Upstream.seen[0]["body"]), bucket)
        bad = self.call("POST", "/storage/v1/b?project=p", {"name": "bkt", "locationz": "US"})
        self.assertEqual(bad.status, 400)
        self.assertEqual(len(Upstream.seen), 1, "an invalid request must not be forwarded")

    def test_chunked_multipart_upload_streams_through(self):
        media = b"x" * 300_000
        metadata = json.dumps({"name": "data.csv", "contentType": "text/csv"}).encode()
        body = (
            b"--B\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n" + metadata
            + b"\r\n--B\r\nContent-Type: text/csv\r\n\r\n" + media + b"\r\n--B--\r\n"
        )  # fmt: skip
        blocks = iter([body[i : i + 50_000] for i in range(0, len(body), 50_000)])
        headers = {"Content-Type": "multipart/related; boundary=B"}
        path = "/upload/storage/v1/b/bkt/o?uploadType=multipart&name=data.csv"
        response = self.call("POST", path, blocks, headers)
        self.assertEqual(response.status, 200, response.data)
        self.assertEqual(Upstream.seen[0]["body"], body)
        bad_metadata = body.replace(b'"contentType"', b'"contentTypo"')
        self.assertEqual(self.call("POST", path, bad_metadata, headers).status, 400)

    def test_resumable_upload_comes_back_through_the_proxy(self):
        start = self.call(
            "POST",
            "/upload/storage/v1/b/bkt/o?uploadType=resumable&name=big.bin",
            {"name": "big.bin"},
        )
        self.assertEqual(start.status, 200, start.data)
        location = urlsplit(start.headers["Location"])
        self.assertEqual(location.port, self.fake.port)
        chunk = self.call(
            "PUT",
            location.path + (f"?{location.query}" if location.query else ""),
            b"y" * 1000,
            {"Content-Range": "bytes 0-999/1000"},
        )
        self.assertEqual(chunk.status, 200)
        self.assertEqual(Upstream.seen[-1]["path"], "/upload/resumable/s1")
        self.assertEqual(Upstream.seen[-1]["body"], b"y" * 1000)
        self.assertEqual(Upstream.seen[-1]["headers"]["Content-Range"], "bytes 0-999/1000")

    def test_a_port_less_location_and_host_still_come_back_through_the_proxy(self):
        # Google's Rust storage client sends `Host: 127.0.0.1` without the port.
        start = self.call(
            "POST",
            "/upload/storage/v1/b/bkt/o?uploadType=resumable&name=portless",
            {"name": "portless"},
            {"Host": "127.0.0.1"},
        )
        self.assertEqual(start.status, 200, start.data)
        location = urlsplit(start.headers["Location"])
        self.assertEqual((location.hostname, location.port), ("127.0.0.1", self.fake.port))
        self.assertEqual(location.path, "/upload/storage/v1/b/bkt/o")
        chunk = self.call(
            "PUT",
            f"{location.path}?{location.query}",
            b"z" * 10,
            {"Content-Range": "bytes 0-9/10"},
        )
        self.assertEqual(chunk.status, 200)
        self.assertEqual(Upstream.seen[-1]["body"], b"z" * 10)

    def test_download_and_faults(self):
        path = "/storage/v1/b/bkt/o/data.bin?alt=media"
        self.assertEqual(self.call("GET", path).data, Upstream.download)
        self.ok(
            "POST", "/_fake/faults", {"match": "^GET /storage/", "responses": [{"status": 503}]}
        )
        self.assertEqual(self.call("GET", path).status, 503)
        self.assertEqual(len(Upstream.seen), 1)


if __name__ == "__main__":
    unittest.main()
