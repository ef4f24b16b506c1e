"""The JSON log line: what operators' log pipelines parse."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from authgate.logs import JsonFormatter, request_id_var


def _record(created: float, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "authgate.http", "msg": "request", "levelname": "INFO"})
    record.created = created
    record.__dict__.update(extra)
    return record


def test_a_line_is_one_json_object_with_time_level_logger_message_and_fields() -> None:
    created = datetime(2026, 11, 28, 0, 30, 5, 250_000, tzinfo=UTC).timestamp()
    token = request_id_var.set("req-1")
    try:
        line = JsonFormatter().format(_record(created, method="POST", status=200, _hidden=1))
    finally:
        request_id_var.reset(token)
    assert "\n" not in line
    assert json.loads(line) == {
        "ts": "2026-11-28T00:30:05.250+00:00",
        "level": "info",
        "logger": "authgate.http",
        "msg": "request",
        "request_id": "req-1",
        "method": "POST",
        "status": 200,
    }


def test_the_cached_second_never_leaks_into_the_next_one() -> None:
    formatter = JsonFormatter()
    base = datetime(2026, 11, 28, 0, 30, 5, tzinfo=UTC).timestamp()
    first = json.loads(formatter.format(_record(base + 0.999)))["ts"]
    second = json.loads(formatter.format(_record(base + 1.001)))["ts"]
    assert first == "2026-11-28T00:30:05.999+00:00"
    assert second == "2026-11-28T00:30:06.001+00:00"
