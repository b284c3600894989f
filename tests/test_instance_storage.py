"""The Dagster instance crm-pulse creates (orchestration/instance_storage.py): its dagster.yaml and
the pooled SQLite event log, which must store the same history Dagster's own storage reads."""

from __future__ import annotations

import shutil

from dagster import DagsterEventType, DagsterInstance, job, op
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from orchestration.instance_storage import MARKER, PooledSqliteEventLogStorage, ensure_dagster_home


@op
def one() -> int:
    return 1


@job
def tiny():
    one()


def test_new_home_gets_the_pooled_event_log_and_dagster_reads_its_history(tmp_path):
    home = ensure_dagster_home(tmp_path / "home")
    assert (home / "dagster.yaml").read_text(encoding="utf-8").startswith(MARKER)
    with DagsterInstance.local_temp(str(home)) as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, PooledSqliteEventLogStorage)
        assert storage._base_dir == str((home / "history" / "runs").resolve())
        result = tiny.execute_in_process(instance=instance)
        assert result.success
        with storage.run_connection(result.run_id) as conn:
            assert conn.exec_driver_sql("pragma synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("pragma journal_mode").scalar() == "wal"
        ours = [e.dagster_event_type for e in instance.all_logs(result.run_id) if e.is_dagster_event]
    # Dagster's own storage (what a stock ``dagster dev`` would use) reads the same events
    plain = SqliteEventLogStorage(str(home / "history" / "runs"))
    try:
        theirs = [e.dagster_event_type for e in plain.get_logs_for_run(result.run_id) if e.is_dagster_event]
        assert theirs == ours and DagsterEventType.RUN_SUCCESS in theirs
    finally:
        plain.dispose()


def test_moved_home_is_repointed_and_foreign_configuration_left_alone(tmp_path):
    home = ensure_dagster_home(tmp_path / "home")
    moved = tmp_path / "elsewhere" / "home"
    shutil.copytree(home, moved)
    ensure_dagster_home(moved)
    text = (moved / "dagster.yaml").read_text(encoding="utf-8")
    assert str(moved.resolve() / "history" / "runs") in text and str(home / "history") not in text

    old = tmp_path / "old"  # what earlier versions of crm-pulse wrote
    old.mkdir()
    (old / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    ensure_dagster_home(old)
    assert (old / "dagster.yaml").read_text(encoding="utf-8").startswith(MARKER)

    own = tmp_path / "own"  # a user's own instance configuration
    own.mkdir()
    (own / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")
    ensure_dagster_home(own)
    assert (own / "dagster.yaml").read_text(encoding="utf-8") == "telemetry:\n  enabled: true\n"
