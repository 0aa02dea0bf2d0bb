"""One module per FHIR operation: plain functions taking parsed input and services; no flask."""
