"""Every subcommand through every way an AWS call can fail, table-driven: the command never ends in
a traceback; it prints one line on stderr and exits with the documented status (README, The
command: 1 failed, 2 usage, 130 interrupted, 141 broken pipe). The endpoints are local: an HTTP
server on 127.0.0.1 that answers with an HTML error page, one that accepts and never answers, and a
port where nothing listens."""

from __future__ import annotations

import http.server
import io
import json
import socket
import threading
import time
from pathlib import Path

import pytest
from botocore.config import Config

from deletion_alarms import awsclient, cli

URL = "https://templates-111122223333.s3.us-east-1.amazonaws.com/deletion-alarms/0.1.0/abc/deletion-alarms.json"
COMMANDS = {
    "test-patterns --live": ["test-patterns", "--live"],
    "publish": ["publish", "--bucket", "templates-111122223333"],
    "service-catalog": ["service-catalog", "--template-url", URL],
    "stackset": ["stackset", "--template-url", URL, "--ou", "r-abcd", "--target-region", "us-east-1", "--yes",
                 "--parameter", "NotificationEmail=security-team@example.com"],
    "doctor": ["doctor"],
    "drill": ["drill", "--stack-name", "deletion-alarms", "--yes"],
    "backtest s3://": ["backtest", "s3://cloudtrail-111122223333/AWSLogs/"],
    "backtest --athena": ["backtest", "--athena", "--trail-bucket", "cloudtrail-111122223333", "--accounts",
                          "111122223333", "--regions", "us-east-1", "--start", "2026-11-01", "--end", "2026-11-02",
                          "--yes"],
    "inventory": ["inventory", "--regions", "us-east-1"],
}


class HtmlErrorPage(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        body = b"<!doctype html>\n<html><title>502 Bad Gateway</title>\n<h1>Bad Gateway</h1></html>\n"
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def html_endpoint():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HtmlErrorPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def silent_endpoint():
    """Accepts connections and reads, never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    for connection in held:
        connection.close()
    listener.close()


@pytest.fixture
def refused_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # closed again: nothing listens


@pytest.fixture(autouse=True)
def fast_failures(monkeypatch, tmp_path):
    """Short timeouts and one attempt, so that a silent endpoint costs a second, not minutes;
    credentials for signing; the drill's run record out of the user's home."""
    monkeypatch.setattr(awsclient, "RETRY_CONFIG", Config(retries={"mode": "standard", "max_attempts": 1},
                                                          connect_timeout=1, read_timeout=1))
    monkeypatch.setattr(awsclient, "READ_TIMEOUT_SECONDS", 1)
    monkeypatch.setattr(awsclient, "ATTEMPTS", 1)
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
                       "XDG_STATE_HOME": str(tmp_path)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    from deletion_alarms import archive

    monkeypatch.setattr(archive, "_CLIENTS", {})  # the backtest's per-process S3 clients


def one_line_failure(capsys, status: int, expected_status: int, expected: str) -> None:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert status == expected_status, captured.err
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert expected in lines[0], lines[0]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_html_error_page_is_one_line(command, html_endpoint, capsys) -> None:
    status = cli.main([*COMMANDS[command], "--endpoint-url", html_endpoint])
    one_line_failure(capsys, status, cli.EXIT_FAILED, "error:")
    assert "<" not in capsys.readouterr().err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_endpoint_that_never_answers_is_named_with_the_wait(command, silent_endpoint, capsys) -> None:
    started = time.monotonic()
    status = cli.main([*COMMANDS[command], "--endpoint-url", silent_endpoint])
    one_line_failure(capsys, status, cli.EXIT_FAILED, f"no answer from {silent_endpoint}")
    assert time.monotonic() - started < 60  # bounded: never the 11 minutes of the report


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_endpoint_nobody_listens_on_is_named(command, refused_endpoint, capsys) -> None:
    status = cli.main([*COMMANDS[command], "--endpoint-url", refused_endpoint])
    one_line_failure(capsys, status, cli.EXIT_FAILED, "cannot reach")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_ctrl_c_is_one_line_and_130(command, html_endpoint, capsys, monkeypatch) -> None:
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("botocore.client.BaseClient._make_api_call", interrupt)
    status = cli.main([*COMMANDS[command], "--endpoint-url", html_endpoint])
    one_line_failure(capsys, status, cli.EXIT_INTERRUPTED, "interrupted:")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_missing_credentials_are_one_line(command, html_endpoint, capsys, monkeypatch, tmp_path) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    status = cli.main([*COMMANDS[command], "--endpoint-url", html_endpoint])
    one_line_failure(capsys, status, cli.EXIT_FAILED, "credentials")


@pytest.mark.parametrize(("args", "expected"), [
    (["publish", "--bucket", "bad!bucket"], "invalid"),
    (["stackset", "--template-url", URL, "--ou", "r-abcd", "--target-region", "us-east-1",
      "--max-concurrent", "-5", "--yes"], "--max-concurrent"),
    (["backtest", "--workers", "-3", "tests/corpus"], "--workers"),
])
def test_bad_values_are_usage_errors(args, expected, html_endpoint, capsys) -> None:
    try:
        status = cli.main([*args, "--endpoint-url", html_endpoint])
    except SystemExit as exit_:  # argparse's own checks
        status = exit_.code
    one_line_failure(capsys, status, cli.EXIT_USAGE, expected)


def test_a_broken_pipe_ends_quietly_with_141(monkeypatch, capsys) -> None:
    class Closed(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError

        def fileno(self) -> int:
            return 1

    monkeypatch.setattr("sys.stdout", Closed())
    monkeypatch.setattr("os.dup2", lambda *a: None)  # pytest owns the real descriptor
    status = cli.main(["test-patterns"])
    assert status == cli.EXIT_BROKEN_PIPE and "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize(("args", "expected"), [
    (["--start", "yesterday"], "--start 'yesterday' is not an ISO 8601 date or time"),
    (["--end", "2026-13-01"], "--end '2026-13-01' is not an ISO 8601 date or time"),
    (["--start", "2026-11-02", "--end", "2026-11-01T00:00:00Z"], "is not before --end"),
])
def test_backtest_dates_are_checked_before_the_scan(args, expected, tmp_path, capsys) -> None:
    status = cli.main(["backtest", str(tmp_path), *args])
    one_line_failure(capsys, status, cli.EXIT_USAGE, expected)


@pytest.mark.parametrize("content", [None, b"not a log\n", b"\x1f\x8b broken gzip"])
def test_a_backtest_that_read_nothing_fails(content, tmp_path, capsys) -> None:
    if content is not None:
        (tmp_path / "junk.json.gz").write_bytes(content)
    status = cli.main(["backtest", str(tmp_path), "--workers", "1"])
    one_line_failure(capsys, status, cli.EXIT_FAILED, "read no CloudTrail record")


def _mixed_log(folder) -> None:
    """A log file with one detected record and two entries that are not records."""
    from tests.conftest import load_corpus

    record = next(s.record for s in load_corpus() if s.expect == {"KmsKeyDisableOrDeletion"})
    (folder / "mixed.json").write_text(json.dumps({"Records": [record, "junk", 7]}))


def test_a_backtest_names_its_failed_files_reports_the_rest_and_fails(tmp_path, capsys) -> None:
    (tmp_path / "dangling.json.gz").symlink_to(tmp_path / "nowhere")
    (tmp_path / "corrupt.json.gz").write_bytes(b"\x1f\x8b\x08 broken")
    _mixed_log(tmp_path)
    status = cli.main(["backtest", str(tmp_path), "--workers", "1"])
    out = capsys.readouterr().out
    assert f"failed: {tmp_path / 'dangling.json.gz'}: No such file or directory" in out
    assert f"failed: {tmp_path / 'corrupt.json.gz'}" in out
    assert f"unparsable entries in: {tmp_path / 'mixed.json'} (2)" in out
    assert "KmsKeyDisableOrDeletion: 1 match," in out
    # The report of what was read is whole, but the run did not read everything: not "done".
    assert status == cli.EXIT_FAILED
    status = cli.main(["backtest", str(tmp_path), "--workers", "1", "--format", "json"])
    assert json.loads(capsys.readouterr().out)["records"] == 1  # the JSON report whole, on stdout
    status = cli.main(["backtest", str(tmp_path), "--workers", "1"])
    one_line_failure(capsys, status, cli.EXIT_FAILED, "2 of 3 files could not be read (first: ")


def test_a_backtest_with_unparsable_entries_only_is_done(tmp_path, capsys) -> None:
    _mixed_log(tmp_path)
    assert cli.main(["backtest", str(tmp_path), "--workers", "1"]) == 0
    captured = capsys.readouterr()
    assert f"unparsable entries in: {tmp_path / 'mixed.json'} (2)" in captured.out and not captured.err


@pytest.mark.parametrize("whole_group", [False, True], ids=["to-the-command", "to-the-terminal-group"])
def test_ctrl_c_stops_a_local_backtest_and_its_workers(tmp_path, whole_group) -> None:
    """A real SIGINT, to the command alone (as `timeout -s INT` or `kill -INT` sends it) or to its
    whole process group (as a terminal's Ctrl-C does), while a worker is blocked reading a file
    that never ends (a FIFO nobody writes to): the command exits 130 with one line, and no worker
    is left behind. With concurrent.futures' pool it never exited."""
    import os
    import signal
    import subprocess
    import sys

    folder = tmp_path / "logs"
    folder.mkdir()
    os.mkfifo(folder / "a-stuck.json.gz")
    (folder / "b.json").write_text('{"Records": []}')
    process = subprocess.Popen([sys.executable, "-m", "deletion_alarms", "backtest", str(folder), "--workers", "2"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        time.sleep(3)  # the workers have started and one is blocked opening the FIFO
        assert process.poll() is None, process.communicate()
        if whole_group:
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == cli.EXIT_INTERRUPTED, err
    assert len(err.strip().splitlines()) == 1 and "interrupted:" in err, err
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):  # nothing of the group remains
        os.killpg(process.pid, 0)
