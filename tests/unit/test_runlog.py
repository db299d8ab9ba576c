"""Scripts' logging: to the rule's log file, one clear line for a user error or an output the
machine refuses, timings."""

from __future__ import annotations

import errno
import logging
import subprocess
import sys
import textwrap
import warnings

import pytest

from satcluster.errors import InputError
from satcluster.runlog import setup_logging, timed, user_errors_exit, warn_in_first_chunk


@pytest.fixture
def restore_logging():
    """setup_logging rewires the root logger and sys.stderr: put both back afterwards."""
    root = logging.getLogger()
    handlers, level, stderr = root.handlers[:], root.level, sys.stderr
    yield
    for handler in root.handlers:
        handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    if sys.stderr is not stderr:
        sys.stderr.close()
    sys.stderr = stderr
    logging.captureWarnings(False)


def test_setup_logging_writes_logging_and_stderr_to_the_file(tmp_path, restore_logging):
    log_path = tmp_path / "logs" / "stage" / "rule.log"  # folders created
    log = setup_logging(log_path)
    assert log.name == "satcluster"
    log.info("tiles written")
    logging.getLogger("satcluster.tiling").debug("below INFO: not written")
    print("progress bar", file=sys.stderr)
    text = log_path.read_text()
    assert "INFO satcluster: tiles written" in text
    assert "progress bar" in text
    assert "not written" not in text


def test_setup_logging_appends(tmp_path, restore_logging):
    log_path = tmp_path / "rule.log"
    log_path.write_text("earlier attempt\n")
    setup_logging(log_path).warning("second attempt")
    text = log_path.read_text()
    assert text.startswith("earlier attempt\n")
    assert "WARNING satcluster: second attempt" in text


def _run_script(tmp_path, body: str) -> subprocess.CompletedProcess:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )


def test_user_error_is_one_log_line_and_exit_status_1(tmp_path):
    log_path = tmp_path / "rule.log"
    result = _run_script(
        tmp_path,
        f"""
        from satcluster.errors import InputError
        from satcluster.runlog import setup_logging, user_errors_exit

        log = setup_logging({str(log_path)!r})
        with user_errors_exit(log):
            raise InputError("config: `inputs.roads` points to x.osm, which does not exist")
        """,
    )
    assert result.returncode == 1
    text = log_path.read_text()
    assert "Traceback" not in text and "Traceback" not in result.stderr
    errors = [line for line in text.splitlines() if "ERROR" in line]
    assert len(errors) == 1
    assert errors[0].endswith(
        "satcluster: error: config: `inputs.roads` points to x.osm, which does not exist"
    )
    # Also on the real stderr, for the user watching Snakemake's output.
    assert result.stderr.strip() == (
        "satcluster: error: config: `inputs.roads` points to x.osm, which does not exist"
    )


def test_user_errors_exit_in_process(caplog):
    with pytest.raises(SystemExit) as exit_info, user_errors_exit():
        raise InputError("config: `tiles.size_px` is invalid")
    assert exit_info.value.code == 1
    assert [r.getMessage() for r in caplog.records] == [
        "satcluster: error: config: `tiles.size_px` is invalid"
    ]


def test_other_errors_keep_their_traceback():
    with pytest.raises(ZeroDivisionError), user_errors_exit():
        1 / 0  # noqa: B018 - a programming error must not be hidden as a user error


def test_timed_logs_the_duration(caplog, monkeypatch):
    clock = iter([10.0, 12.5])
    monkeypatch.setattr("satcluster.runlog.time.perf_counter", lambda: next(clock))
    log = logging.getLogger("satcluster.test")
    with caplog.at_level(logging.INFO, logger="satcluster.test"), timed(log, "tiling"):
        pass
    assert [r.getMessage() for r in caplog.records] == ["tiling took 2.50 s"]


# --- the machine's problems: outputs that cannot be written ---------------------------------


def test_an_output_the_machine_refuses_is_one_log_line(tmp_path):
    """A write into a folder that is a file (works as root): one line, no traceback."""
    log_path = tmp_path / "rule.log"
    (tmp_path / "results").write_text("a file where the folder should be")
    target = tmp_path / "results" / "labels.parquet"
    result = _run_script(
        tmp_path,
        f"""
        from satcluster.io import atomic_path
        from satcluster.runlog import setup_logging, user_errors_exit

        log = setup_logging({str(log_path)!r})
        with user_errors_exit(log), atomic_path({str(target)!r}) as tmp:
            tmp.write_text("never")
        """,
    )
    assert result.returncode == 1
    text = log_path.read_text()
    assert "Traceback" not in text and "Traceback" not in result.stderr
    errors = [line for line in text.splitlines() if "ERROR" in line]
    assert len(errors) == 1
    assert f"satcluster: error: cannot write {target}: " in errors[0]
    assert errors[0].endswith(
        "check that the folder is writable and the disk is not full (or over quota), then rerun."
    )


def test_disk_full_outside_atomic_path_is_one_message(caplog):
    with pytest.raises(SystemExit) as exit_info, user_errors_exit():
        raise OSError(errno.ENOSPC, "No space left on device", "results/report.zip")
    assert exit_info.value.code == 1
    assert [r.getMessage() for r in caplog.records] == [
        "satcluster: error: cannot access results/report.zip: No space left on device; check "
        "the permissions of the file and its folder, and that the disk is not full (or over "
        "quota), then rerun."
    ]


def test_other_os_errors_keep_their_traceback():
    with pytest.raises(FileNotFoundError), user_errors_exit():
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "results/x")


@pytest.mark.parametrize(("chunk", "level"), [(0, "WARNING"), (1, "INFO"), (3, "INFO")])
def test_source_warnings_are_warnings_in_the_first_chunk_only(
    tmp_path, restore_logging, chunk, level
):
    log_file = tmp_path / "chunk.log"
    setup_logging(log_file)
    with warn_in_first_chunk(chunk):
        logging.getLogger("satcluster.covariates.ndvi").warning("level not verified")
        logging.getLogger("satcluster.other").warning("not a source warning")
    logging.getLogger("satcluster.covariates.ndvi").warning("after the block")
    text = log_file.read_text()
    assert f"{level} satcluster.covariates.ndvi: level not verified" in text
    assert "WARNING satcluster.other: not a source warning" in text
    assert "WARNING satcluster.covariates.ndvi: after the block" in text


def test_python_warnings_of_a_later_chunk_are_info(tmp_path, restore_logging):
    log_file = tmp_path / "chunk.log"
    setup_logging(log_file)
    with warn_in_first_chunk(2), warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("raster misses the city", stacklevel=1)
    assert "INFO py.warnings" in log_file.read_text()
