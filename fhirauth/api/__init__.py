"""Flask blueprints: HTTP only. Parse the HTTP request, call an operation, render."""
