"""A ``fhirauth worker`` for tests: ``python -m tests.notifications.worker_main DATA_DIR DB_URL
BASE_URL``; notification settings come from FHIRAUTH_NOTIFY_* in the environment."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from fhirauth.config import Settings
from fhirauth.notifications.worker import run_worker_process
from fhirauth.services import Services


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    data_dir, database_url, base_url = argv
    settings = Settings.from_env(
        data_dir=Path(data_dir), database_url=database_url, base_url=base_url
    )
    services = Services.build(settings, run_migrations=False)
    try:
        run_worker_process(services)
    finally:
        services.engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1:])
