"""What Asana's answers mean to the call loop (`classify_answer`): the classification the fault
matrix (tests/integration/test_fault_matrix.py) drives end to end, one answer at a time."""

from __future__ import annotations

from typing import Any

import pytest
import urllib3
from asana.rest import ApiException

from connectors.asana.connector import _Status, classify_answer
from connectors.base import ConnectorError
from connectors.toolkit import Fatal, Ok, Retry, RetryAfter


def refused(status: int, body: Any = None, headers: dict[str, str] | None = None) -> ApiException:
    exc = ApiException(status=status, reason="x")
    exc.body, exc.headers = body, headers
    return exc


def test_a_json_body_is_ok_with_its_headers() -> None:
    assert classify_answer(({"data": []}, 200, {"Date": "d"}), where="w") == Ok(({"data": []}, {"Date": "d"}))
    assert classify_answer(({"data": []}, 200, None), where="w") == Ok(({"data": []}, {}))


@pytest.mark.parametrize(
    ("answer", "verdict"),
    [
        (refused(429, headers={"Retry-After": "30"}), RetryAfter(30.0)),
        (refused(429), RetryAfter(None)),  # no Retry-After: the backoff decides
        (refused(502, body=b"<html>Bad Gateway</html>"), Retry("server error (502)", outcome_unknown=True)),
        (("<html>cut off", 200, {}), Retry("unreadable answer (not JSON)", outcome_unknown=True)),
        (urllib3.exceptions.ProtocolError("reset"), Retry("connection failed (ProtocolError)", answered=False,
                                                          outcome_unknown=True)),
        (ConnectionRefusedError(), Retry("connection failed (ConnectionRefusedError)", answered=False,
                                         outcome_unknown=True)),
    ],
)
def test_what_is_retried(answer: Any, verdict: Any) -> None:
    assert classify_answer(answer, where="Asana project 1") == verdict


def test_an_expected_status_goes_to_the_caller_unless_its_body_is_cut_off() -> None:
    expected = classify_answer(refused(412, body=b'{"sync": "tok"}'), where="w", expect=(412,))
    assert isinstance(expected, Fatal) and isinstance(expected.error, _Status) and expected.error.status == 412
    assert classify_answer(refused(412, body=b'{"sy'), where="w", expect=(412,)) == Retry("unreadable answer (412)")


def test_refusals_end_in_one_line_naming_where() -> None:
    verdict = classify_answer(refused(404), where="Asana project 2999")
    assert isinstance(verdict, Fatal) and isinstance(verdict.error, ConnectorError)
    assert str(verdict.error) == "Asana project 2999: not found (404) — check the gid in the config"
    body = b'{"errors": [{"message": "offset: Your pagination token is invalid"}]}'
    verdict = classify_answer(refused(400, body=body), where="Asana project 1")
    assert isinstance(verdict, Fatal)
    assert str(verdict.error) == "Asana project 1: rejected by Asana (400): offset: Your pagination token is invalid"


def test_an_exception_nobody_classifies_is_raised_as_it_was() -> None:
    bug = KeyError("bug")
    assert classify_answer(bug, where="w") == Fatal(bug)
