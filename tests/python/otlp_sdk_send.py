"""Sends traces, metrics and logs with the official OpenTelemetry Python SDK and its OTLP
exporters to the receivers of a running `aiops run`, and writes the very requests the
exporters sent to OTLP files that `aiops run --input` replays.

Run by tests/integration/receivers.rs. Each export goes through a tee: the batch is encoded
with the SDK's own OTLP encoder into a length-prefixed protobuf file (the `.binpb` layout of
engine/src/source/files.rs), then handed to the real exporter. The script exits non-zero if
any export fails, so a refused or failed request fails the test.

- service `checkout`: spans over OTLP/gRPC, metrics (process CPU and memory) over OTLP/HTTP,
  logs over OTLP/gRPC;
- service `payments`: spans over OTLP/HTTP, gzip-compressed, children of checkout's client
  spans; logs over OTLP/HTTP;
- service `inventory`: no spans, an `http.server.request.duration` histogram over OTLP/HTTP.

Timestamps are fixed offsets from --start (seconds since the epoch); seeded randomness.
"""

import argparse
import random
import struct
import sys

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetrics
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans
from opentelemetry.metrics import Observation
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

FAILURES = []


def append(path, request):
    """Appends one request to a length-prefixed protobuf file."""
    body = request.SerializeToString()
    with open(path, "ab") as out:
        out.write(struct.pack(">I", len(body)))
        out.write(body)


class TeeSpans(SpanExporter):
    def __init__(self, path, exporter):
        self.path, self.exporter = path, exporter

    def export(self, spans):
        append(self.path, encode_spans(spans))
        result = self.exporter.export(spans)
        if result != SpanExportResult.SUCCESS:
            FAILURES.append(f"spans to {self.path}: {result}")
        return result

    def shutdown(self):
        self.exporter.shutdown()


class TeeMetrics(MetricExporter):
    def __init__(self, path, exporter):
        super().__init__(preferred_temporality=exporter._preferred_temporality)
        self.path, self.exporter = path, exporter

    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        append(self.path, encode_metrics(metrics_data))
        result = self.exporter.export(metrics_data, timeout_millis=timeout_millis)
        if result != MetricExportResult.SUCCESS:
            FAILURES.append(f"metrics: {result}")
        return result

    def force_flush(self, timeout_millis=10_000):
        return True

    def shutdown(self, timeout_millis=30_000, **kwargs):
        self.exporter.shutdown()


class TeeLogs(LogRecordExporter):
    def __init__(self, path, exporter):
        self.path, self.exporter, self.sent = path, exporter, 0

    def export(self, batch):
        append(self.path, encode_logs(batch))
        result = self.exporter.export(batch)
        if result != LogRecordExportResult.SUCCESS:
            FAILURES.append(f"logs: {result}")
        self.sent += len(batch)
        return result

    def force_flush(self, timeout_millis=30_000):
        return True

    def shutdown(self):
        self.exporter.shutdown()


def resource(service):
    return Resource.create({"service.name": service, "deployment.environment.name": "test"})


def send_traces(args, rng):
    ns = 1_000_000_000
    checkout = TracerProvider(resource=resource("checkout"))
    checkout.add_span_processor(SimpleSpanProcessor(TeeSpans(f"{args.files}/traces-grpc.binpb",
                                                             GrpcSpans(endpoint=args.grpc, insecure=True))))
    payments = TracerProvider(resource=resource("payments"))
    http = HttpSpans(endpoint=f"{args.http}/v1/traces", compression=Compression.Gzip)
    payments.add_span_processor(SimpleSpanProcessor(TeeSpans(f"{args.files}/traces-http.binpb", http)))
    front, back = checkout.get_tracer("shop"), payments.get_tracer("shop")
    for i in range(args.traces):
        start = args.start * ns + i * (args.minutes * 60 * ns // args.traces)
        latency = int(rng.lognormvariate(17.0, 0.4))  # about 25 ms
        failed = rng.random() < 0.05
        root = front.start_span("POST /checkout", kind=SpanKind.SERVER, start_time=start)
        ctx = trace.set_span_in_context(root)
        client = front.start_span("POST /pay", kind=SpanKind.CLIENT, context=ctx, start_time=start + ns // 1000)
        server = back.start_span("POST /pay", kind=SpanKind.SERVER, start_time=start + 2 * ns // 1000,
                                 context=trace.set_span_in_context(client),
                                 attributes={"http.response.status_code": 500 if failed else 200})
        if failed:
            server.set_status(Status(StatusCode.ERROR))
        server.end(end_time=start + latency)
        client.end(end_time=start + latency + ns // 1000)
        root.end(end_time=start + latency + 2 * ns // 1000)
    checkout.shutdown()
    payments.shutdown()


def send_metrics(args, rng):
    tee = TeeMetrics(f"{args.files}/metrics-http.binpb", HttpMetrics(endpoint=f"{args.http}/v1/metrics"))
    reader = PeriodicExportingMetricReader(tee, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=resource("checkout"), metric_readers=[reader])
    meter = provider.get_meter("host")
    meter.create_observable_gauge("process.cpu.utilization", callbacks=[lambda _: [Observation(0.25)]])
    meter.create_observable_gauge("process.memory.utilization", callbacks=[lambda _: [Observation(0.5)]])
    inventory = MeterProvider(resource=resource("inventory"), metric_readers=[
        PeriodicExportingMetricReader(TeeMetrics(f"{args.files}/metrics-inventory.binpb",
                                                 HttpMetrics(endpoint=f"{args.http}/v1/metrics")),
                                      export_interval_millis=3_600_000)])
    # The bucket boundaries the semantic conventions advise for this histogram, in seconds.
    boundaries = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]
    duration = inventory.get_meter("http").create_histogram(
        "http.server.request.duration", unit="s", explicit_bucket_boundaries_advisory=boundaries)
    for _ in range(3):
        for _ in range(100):
            status = 503 if rng.random() < 0.1 else 200
            duration.record(rng.uniform(0.01, 0.2), {"http.response.status_code": status})
        inventory.force_flush()
        provider.force_flush()
    provider.shutdown()
    inventory.shutdown()


def send_logs(args):
    counters = []
    for service, exporter in (("checkout", GrpcLogs(endpoint=args.grpc, insecure=True)),
                              ("payments", HttpLogs(endpoint=f"{args.http}/v1/logs"))):
        counter = TeeLogs(f"{args.files}/logs-{service}.binpb", exporter)
        provider = LoggerProvider(resource=resource(service))
        provider.add_log_record_processor(SimpleLogRecordProcessor(counter))
        logger = provider.get_logger("app")
        for i in range(args.logs):
            error = i % 10 == 0
            logger.emit(body=f"order {i} {'failed' if error else 'placed'}",
                        severity_number=SeverityNumber.ERROR if error else SeverityNumber.INFO,
                        timestamp=(args.start + i) * 1_000_000_000)
        provider.shutdown()
        counters.append(counter.sent)
    return sum(counters)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grpc", required=True, help="host:port of the OTLP/gRPC receiver")
    parser.add_argument("--http", required=True, help="http://host:port of the OTLP/HTTP receiver")
    parser.add_argument("--files", required=True, help="directory for the OTLP files")
    parser.add_argument("--start", type=int, required=True, help="first span, seconds since the epoch")
    parser.add_argument("--minutes", type=int, default=3)
    parser.add_argument("--traces", type=int, default=600)
    parser.add_argument("--logs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    # Logs first: their lines lie in the first minute, which the spans' event time would
    # otherwise have closed (one receiver is one partition with one watermark).
    logs = send_logs(args)
    send_traces(args, rng)
    send_metrics(args, rng)
    if FAILURES:
        print("\n".join(FAILURES), file=sys.stderr)
        sys.exit(1)
    print(f"sent {args.traces * 3} spans, logs {logs}")


if __name__ == "__main__":
    main()
