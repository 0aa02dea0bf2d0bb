"""Rule results → decisions → ClaimResponse and the PAS response Bundle."""
