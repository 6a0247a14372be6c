import json
import logging

from helpdesk import observability


class TestJsonFormatter:
    def test_one_parseable_line_with_request_id_and_extras(self):
        record = logging.LogRecord(
            "pods", logging.WARNING, __file__, 1, "moved %s", (3,), None
        )
        record.request_id = "abc12345"
        record.pod_id = 7

        line = observability.JsonFormatter().format(record)

        entry = json.loads(line)
        assert "\n" not in line
        assert entry["message"] == "moved 3"
        assert entry["level"] == "WARNING"
        assert entry["request_id"] == "abc12345"
        assert entry["pod_id"] == 7


class TestRequestIdFilter:
    def test_stamps_the_current_request_id(self):
        observability.set_request_id("req-0000001")
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)

        observability.RequestIdFilter().filter(record)

        assert record.request_id == "req-0000001"
