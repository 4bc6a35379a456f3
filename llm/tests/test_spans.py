"""OTLP ingest of whole traces: the spans around LLM calls, kept as Span rows, and the bad input they bring."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from llm.models import LLMRequestLog, Span
from llm.sources import otlp
from llm.tests.tracekit import MS, agent_run, llm_attributes, post, span

pytestmark = pytest.mark.django_db

TRACE = "1f" * 16
OTHER = "2e" * 16
BASE = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
BASE_NS = int(BASE.timestamp()) * 10**9


def counts(response) -> tuple[int, int, int, int]:
    assert response.status_code == 200, response.content
    return tuple(int(response[f"X-Spans-{n}"]) for n in ("Stored", "Duplicate", "Skipped", "Rejected"))


def partial(response) -> dict:
    return response.json().get("partialSuccess", {})


def test_it_keeps_every_span_of_an_agent_run(frozen, ingest_secret):
    response = post(ingest_secret, *agent_run(TRACE, BASE_NS))

    assert counts(response) == (5, 0, 0, 0)
    assert response.json() == {}
    call = LLMRequestLog.objects.get()
    rows = {row.name: row for row in Span.objects.all()}
    assert sorted(rows) == ["GET /search", "answer_question", "chat test/model", "retrieve", "tool calculator"]
    http = rows["GET /search"]
    assert (http.trace_id, http.span_id, http.parent_span_id) == (TRACE, "1f1f1f1f1f1f00a3", "1f1f1f1f1f1f00a2")
    assert (http.kind, http.status_code, http.service_name, http.call_id) == ("client", "unset", "agent-api", None)
    assert (http.start, http.end) == (BASE + timedelta(milliseconds=20), BASE + timedelta(milliseconds=170))
    assert http.attributes == {"http.request.method": "GET", "http.response.status_code": 200}
    assert rows["chat test/model"].call_id == call.request_id
    assert rows["answer_question"].parent_span_id == ""


def test_it_skips_traces_without_an_llm_call(frozen, ingest_secret):
    response = post(
        ingest_secret,
        span(OTHER, "00000000000000b1", start_ns=BASE_NS, name="GET /health"),
        span(OTHER, "00000000000000b2", start_ns=BASE_NS, parent="00000000000000b1", name="SELECT 1"),
    )

    assert counts(response) == (0, 0, 2, 0)
    assert not Span.objects.exists() and not LLMRequestLog.objects.exists()


def test_it_keeps_a_parent_exported_after_its_llm_child(frozen, ingest_secret):
    run = agent_run(TRACE, BASE_NS)
    children, root = run[1:], run[0]
    assert counts(post(ingest_secret, *children)) == (4, 0, 0, 0)

    # The root ends last and comes alone in a later export; so does a span of an unrelated trace.
    late = post(ingest_secret, root, span(OTHER, "00000000000000b1", start_ns=BASE_NS))

    assert counts(late) == (1, 0, 1, 0)
    assert Span.objects.filter(trace_id=TRACE).count() == 5


def test_it_keeps_spans_of_a_trace_whose_call_was_stored_before_spans_were(frozen, ingest_secret, make_log):
    make_log(trace_id=TRACE, span_id="00000000000000c1", timestamp=BASE)

    response = post(ingest_secret, span(TRACE, "00000000000000c2", start_ns=BASE_NS, parent="00000000000000c1"))

    assert counts(response) == (1, 0, 0, 0)


def test_it_stores_a_resent_export_once(frozen, ingest_secret):
    run = agent_run(TRACE, BASE_NS)
    post(ingest_secret, *run)

    again = post(ingest_secret, *run)

    assert counts(again) == (0, 5, 0, 0)
    assert again.json() == {}
    assert (Span.objects.count(), LLMRequestLog.objects.count()) == (5, 1)


def test_it_refuses_a_repeated_span_id_with_other_content_and_keeps_the_first(frozen, ingest_secret):
    first = span(TRACE, "00000000000000d1", start_ns=BASE_NS, name="first", attributes=llm_attributes())
    same = dict(first)
    other = {**first, "name": "second"}

    response = post(ingest_secret, first, same, other)

    assert counts(response) == (1, 1, 0, 1)
    assert partial(response) == {
        "rejectedSpans": "1",
        "errorMessage": f"span 'second': span_id 00000000000000d1 appears twice in trace {TRACE} "
        "with different content; the first one is kept",
    }
    assert list(Span.objects.values_list("name", flat=True)) == ["first"]


@pytest.mark.parametrize(
    "end_ns, reason",
    [
        (BASE_NS - MS, "end time is before start time"),
        (BASE_NS + 24 * 3600 * 10**9 + 1, "lasts more than 24 hours (end time - start time)"),
    ],
)
def test_it_refuses_absurd_durations_and_keeps_the_rest(frozen, ingest_secret, end_ns, reason):
    bad = {**span(TRACE, "00000000000000e1", start_ns=BASE_NS, name="agent"), "endTimeUnixNano": str(end_ns)}
    llm = span(TRACE, "00000000000000e2", start_ns=BASE_NS, attributes=llm_attributes())
    bad_llm = {**span(TRACE, "00000000000000e3", start_ns=BASE_NS, name="llm", attributes=llm_attributes())}
    bad_llm["endTimeUnixNano"] = str(end_ns)

    response = post(ingest_secret, bad, llm, bad_llm)

    assert counts(response) == (1, 0, 0, 2)
    assert partial(response)["errorMessage"] == f"span 'agent': {reason}; span 'llm': {reason}"
    assert list(Span.objects.values_list("span_id", flat=True)) == ["00000000000000e2"]
    assert list(LLMRequestLog.objects.values_list("span_id", flat=True)) == ["00000000000000e2"]


def test_it_takes_a_span_without_an_end_as_instant(frozen, ingest_secret):
    open_span = {**span(TRACE, "00000000000000e1", start_ns=BASE_NS), "endTimeUnixNano": "0"}
    post(ingest_secret, open_span, span(TRACE, "00000000000000e2", start_ns=BASE_NS, attributes=llm_attributes()))

    row = Span.objects.get(span_id="00000000000000e1")
    assert row.start == row.end == BASE


def test_it_stops_a_trace_at_the_span_cap(frozen, ingest_secret, monkeypatch):
    monkeypatch.setattr(otlp, "MAX_SPANS_PER_TRACE", 4)
    spans = [span(TRACE, f"{i + 1:016x}", start_ns=BASE_NS + i * MS, attributes=llm_attributes()) for i in range(3)]
    assert counts(post(ingest_secret, *spans)) == (3, 0, 0, 0)

    more = [span(TRACE, f"{i + 1:016x}", start_ns=BASE_NS + i * MS) for i in range(3, 6)]
    response = post(ingest_secret, *spans, *more)  # re-sent spans are duplicates, not additions

    assert counts(response) == (1, 3, 0, 2)
    assert partial(response) == {
        "rejectedSpans": "2",
        "errorMessage": f"trace {TRACE}: 2 span(s) refused, a trace keeps at most 4 spans",
    }
    assert Span.objects.filter(trace_id=TRACE).count() == 4


def test_the_span_cap_is_ten_thousand():
    assert otlp.MAX_SPANS_PER_TRACE == 10_000


def test_it_keeps_llm_texts_on_the_call_only(frozen, ingest_secret):
    post(ingest_secret, span(TRACE, "00000000000000f1", start_ns=BASE_NS, attributes=llm_attributes(prompt="secret?")))

    (attributes,) = Span.objects.values_list("attributes", flat=True)
    assert not any(key.startswith(("gen_ai.input", "gen_ai.output")) for key in attributes)
    assert "secret?" in LLMRequestLog.objects.get().prompt_text


@override_settings(GROQ_API_KEY="gsk_live_abcdefghijklmnop1234")
def test_it_cleans_and_caps_attribute_values(frozen, ingest_secret):
    hostile = {
        "long": "x" * 10_000,
        "nul": "a\x00b",
        "header": "Bearer gsk_live_abcdefghijklmnop1234",
        "nan": float("nan"),
    }
    body_span = span(TRACE, "00000000000000f2", start_ns=BASE_NS, attributes=hostile)
    body_span["attributes"][3] = {"key": "nan", "value": {"doubleValue": "NaN"}}
    response = post(
        ingest_secret, body_span, span(TRACE, "00000000000000f3", start_ns=BASE_NS, attributes=llm_attributes())
    )

    assert counts(response) == (2, 0, 0, 0)
    attributes = Span.objects.get(span_id="00000000000000f2").attributes
    assert len(attributes["long"]) == otlp.MAX_ATTRIBUTE_CHARS + 1 and attributes["long"].endswith("…")
    assert (attributes["nul"], attributes["nan"]) == ("ab", "nan")
    assert "gsk_live_abcdefghijklmnop1234" not in attributes["header"]


def test_it_marks_the_span_of_a_failed_call_as_failed(frozen, ingest_secret):
    attrs = llm_attributes(**{"error.type": "timeout"})
    post(ingest_secret, span(TRACE, "00000000000000f4", start_ns=BASE_NS, attributes=attrs))

    assert Span.objects.get().status_code == "error"


def test_agent_and_tool_operations_are_not_calls(frozen, ingest_secret):
    agent = span(TRACE, "00000000000000a1", start_ns=BASE_NS, attributes={"gen_ai.operation.name": "invoke_agent"})
    tool = span(TRACE, "00000000000000a2", start_ns=BASE_NS, attributes={"gen_ai.operation.name": "execute_tool"})
    llm = span(TRACE, "00000000000000a3", start_ns=BASE_NS, attributes=llm_attributes())

    assert counts(post(ingest_secret, agent, tool, llm)) == (3, 0, 0, 0)
    assert list(LLMRequestLog.objects.values_list("span_id", flat=True)) == ["00000000000000a3"]


def test_it_refuses_bad_ids_of_kept_spans(frozen, ingest_secret):
    response = post(
        ingest_secret,
        span(TRACE, "0000000000000000", start_ns=BASE_NS, name="zero"),
        span(TRACE, "00000000000000a3", start_ns=BASE_NS, attributes=llm_attributes()),
    )
    assert counts(response) == (1, 0, 0, 1)
    assert partial(response)["errorMessage"] == "span 'zero': trace_id must be 16 bytes and span_id 8 bytes, not zero"


def test_it_stores_a_1000_span_trace_in_one_export(frozen, ingest_secret, django_assert_max_num_queries):
    spans = [span(TRACE, f"{i + 1:016x}", start_ns=BASE_NS + i * MS, parent=f"{max(i, 1):016x}") for i in range(999)]
    spans.append(span(TRACE, f"{1000:016x}", start_ns=BASE_NS, attributes=llm_attributes()))

    with django_assert_max_num_queries(12):
        response = post(ingest_secret, *spans)

    assert counts(response) == (1000, 0, 0, 0)
