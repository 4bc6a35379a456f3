"""Real OpenTelemetry exporters and instrumented Groq clients sending traces to a live server."""

import groq
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from llm.models import LLMRequestLog


@pytest.fixture
def recorded():
    """A tracer provider whose finished spans are kept in memory, to be exported by the test."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    yield provider, memory
    provider.shutdown()


def exporter(live_server, secret, *, path="/v1/traces", compression=Compression.NoCompression):
    return OTLPSpanExporter(
        endpoint=f"{live_server.url}{path}",
        headers={"Authorization": f"Bearer {secret}"},
        compression=compression,
        timeout=10,
    )


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_it_stores_spans_exported_in_protobuf_by_the_sdk(live_server, ingest_key, recorded, compression):
    key, secret = ingest_key
    provider, memory = recorded
    tracer = provider.get_tracer("checkout")
    with tracer.start_as_current_span("POST /checkout") as parent:
        with tracer.start_as_current_span("chat llama-3.1-8b-instant") as llm_span:
            llm_span.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "groq",
                    "gen_ai.request.model": "llama-3.1-8b-instant",
                    "gen_ai.usage.input_tokens": 42,
                    "gen_ai.usage.output_tokens": 7,
                    "user.id": "u-1",
                }
            )
        with tracer.start_as_current_span("chat failing") as failing:
            failing.set_attributes(
                {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "error.type": "timeout"}
            )
            failing.set_status(StatusCode.ERROR, "read timed out")

    result = exporter(live_server, secret, compression=compression).export(memory.get_finished_spans())

    assert result == SpanExportResult.SUCCESS
    rows = {row.model_name: row for row in LLMRequestLog.objects.all()}
    assert set(rows) == {"llama-3.1-8b-instant", "m"}  # the HTTP span was skipped
    row = rows["llama-3.1-8b-instant"]
    assert (row.prompt_tokens, row.completion_tokens, row.user_id, row.ingest_key_id) == (42, 7, "u-1", key.pk)
    assert row.trace_id == format(llm_span.get_span_context().trace_id, "032x")
    assert row.span_id == format(llm_span.get_span_context().span_id, "016x")
    assert row.parent_span_id == format(parent.get_span_context().span_id, "016x")
    expected_ms = (llm_span.end_time - llm_span.start_time) / 1e6
    assert row.latency_ms == pytest.approx(expected_ms)
    assert row.metadata["service"] == "shop"
    assert (rows["m"].status, rows["m"].error_type, rows["m"].error_message) == ("error", "timeout", "read timed out")


def test_it_refuses_an_exporter_with_a_wrong_key(live_server, ingest_secret, recorded):
    provider, memory = recorded
    with provider.get_tracer("t").start_as_current_span("chat") as span:
        span.set_attributes({"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"})

    result = exporter(live_server, ingest_secret[:-1] + "!", path="/api/otel/v1/traces").export(
        memory.get_finished_spans()
    )

    assert result == SpanExportResult.FAILURE
    assert not LLMRequestLog.objects.exists()


# --- Groq clients instrumented by OpenLLMetry and by OpenInference -------------------------

GROQ_DELAY = 0.15  # seconds the fake Groq server holds its answer, so latency is measurable


def _instrumentors():
    from openinference.instrumentation.groq import GroqInstrumentor as OpenInferenceGroq
    from opentelemetry.instrumentation.groq import GroqInstrumentor as OpenLLMetryGroq

    return {"openllmetry": OpenLLMetryGroq, "openinference": OpenInferenceGroq}


@pytest.mark.parametrize("instrumentation", ["openllmetry", "openinference"])
def test_it_stores_calls_of_an_instrumented_groq_client(
    live_server, ingest_secret, recorded, fake_groq, instrumentation
):
    provider, memory = recorded
    fake_groq.reply_completion("Paris.", prompt_tokens=21, completion_tokens=5, delay=GROQ_DELAY)
    instrumentor = _instrumentors()[instrumentation]()
    instrumentor.instrument(tracer_provider=provider)
    try:
        client = groq.Groq(api_key="gsk_fake_for_tests", base_url=fake_groq.url, max_retries=0)
        client.chat.completions.create(
            model="llama-3.1-8b-instant", messages=[{"role": "user", "content": "Capital of France?"}]
        )
    finally:
        instrumentor.uninstrument()  # the SDK is patched globally; other tests must get it clean
    (span,) = memory.get_finished_spans()

    result = exporter(live_server, ingest_secret).export([span])

    assert result == SpanExportResult.SUCCESS
    row = LLMRequestLog.objects.get()
    assert (row.model_name, row.provider, row.source) == ("llama-3.1-8b-instant", "groq", "otlp")
    assert (row.prompt_tokens, row.completion_tokens, row.total_tokens) == (21, 5, 26)
    assert row.latency_ms == pytest.approx((span.end_time - span.start_time) / 1e6)
    assert row.latency_ms >= GROQ_DELAY * 1000
    assert "Capital of France?" in row.prompt_text
    assert "Paris." in row.response_text
    assert row.status == "success"
