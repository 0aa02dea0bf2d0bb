"""Pure FHIR plumbing: parsing, reference resolution, OperationOutcome. Never imports flask."""
