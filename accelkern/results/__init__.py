"""Results: the one schema (a run header and rows), the writer that appends a run to DIR/<command>.jsonl
(.csv, .md) and never writes over an earlier one, and the one reader that names every unusable line.

Throughput units: TFLOPS (1e12 FLOP/s, TOPS for int8) or TB/s (1e12 bytes/s); times in ms.
"""
from accelkern.results.reader import RecordedRun, ResultsFile, parse_results, read_jsonl, read_results
from accelkern.results.schema import (ROW_FIELDS, SCHEMA_VERSION, Row, RunHeader, progress, row_record, to_csv,
                                      to_json)
from accelkern.results.writer import ResultWriter

__all__ = ["ROW_FIELDS", "SCHEMA_VERSION", "RecordedRun", "ResultWriter", "ResultsFile", "Row", "RunHeader",
           "parse_results", "progress", "read_jsonl", "read_results", "row_record", "to_csv", "to_json"]
