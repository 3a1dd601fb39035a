"""Exports: CSV, XLSX and the NHSBSP dose-audit CSV, streamed from the list filters' query."""
