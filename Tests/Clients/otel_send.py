"""Sends logs to logpipe's POST /v1/logs with the OpenTelemetry Python SDK and its OTLP/HTTP exporter
(protobuf), as an application instrumented with OpenTelemetry does: Python's logging module, a LoggingHandler,
a batch processor, a resource with service.name and the tenant attribute.

    .build/otel-venv/bin/python Tests/Clients/otel_send.py URL COUNT TENANT [API_KEY]

Exit 0 when every export was answered with success, 1 otherwise (the tests read the stored logs).
"""
# logpipe-venv: .build/otel-venv
import logging
import sys

from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogExportResult
from opentelemetry.sdk.resources import Resource


class RecordingExporter(OTLPLogExporter):
    results = []

    def export(self, batch):
        result = super().export(batch)
        RecordingExporter.results.append((result, len(batch)))
        return result


def main():
    url, count, tenant = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    headers = {"Authorization": "Bearer " + sys.argv[4]} if len(sys.argv) > 4 else None
    resource = Resource.create({"service.name": "checkout", "tenant.id": tenant, "host.name": "web-1",
                                "deployment.environment": "test"})
    provider = LoggerProvider(resource=resource)
    exporter = RecordingExporter(endpoint=url, headers=headers, timeout=10)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter, max_export_batch_size=200))
    handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
    logger = logging.getLogger("checkout.payments")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    logger.propagate = False
    for index in range(count):
        extra = {"user_email": "jane.doe@example.com", "order": index, "retry": index % 3 == 0,
                 "password": "hunter2", "log.record.uid": "otel-%d" % index}
        if index % 2:
            logger.warning("payment %d declined for card 4111 1111 1111 1111", index, extra=extra)
        else:
            logger.info("payment %d accepted from 10.1.2.3", index, extra=extra)
    provider.force_flush()
    provider.shutdown()
    exported = sum(n for result, n in RecordingExporter.results if result == LogExportResult.SUCCESS)
    failed = [r for r, _ in RecordingExporter.results if r != LogExportResult.SUCCESS]
    print("exported %d logs in %d requests, %d failed" % (exported, len(RecordingExporter.results), len(failed)))
    return 0 if exported == count and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
