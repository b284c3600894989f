"""Imported once by the forkserver that forks step processes (``CRM_PULSE_MAX_PROCESSES`` > 1):
heavy libraries that steps import lazily, so each forked step does not import them again
(Great Expectations alone takes ~1 s, once per mart-contract step otherwise)."""

import orchestration.definitions  # noqa: F401  (the job's definitions, dbt manifest included)
from data_contracts.mart_contracts import _gx

_gx()
