"""The HTTP throughput benchmark ``bench/submit.py`` runs, one module per part of it."""
