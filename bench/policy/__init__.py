"""The policy-engine benchmark ``bench/policy_bench.py`` runs: its rules, requests and timing."""
