"""The Dagster instance crm-pulse creates (``<warehouse>/dagster_home``): its ``dagster.yaml`` and
an event log that costs what the run history needs.

Dagster's SQLite event log opens a new SQLite connection, and commits with a full ``fsync``, for
every stored event: a refresh stores ~650 events (planned and done materialisations, check results,
step events), ~20 ms each, a third of a demo refresh. :class:`PooledSqliteEventLogStorage` is the
same storage (same files, schema and queries, so ``dagster dev`` and ``crm-pulse status`` read the
history as before) with one pooled engine per database file and ``synchronous=NORMAL``: in WAL mode
(Dagster's default for these files) a commit no longer waits for the disk, and a power cut can lose
the last events of a run, never corrupt the history. The warehouse data is unaffected (its publish
is atomic on its own, README "Operations").
"""

from __future__ import annotations

import os
import sys
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as db
from dagster import Field, StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS

#: dagster.yaml of an instance crm-pulse creates (README "Configuration", ``DAGSTER_HOME``).
DAGSTER_YAML = """telemetry:
  enabled: false
event_log_storage:
  module: orchestration.instance_storage
  class: PooledSqliteEventLogStorage
"""
#: what earlier versions wrote; such a file is replaced by DAGSTER_YAML (nothing else was in it)
_OLD_DAGSTER_YAML = "telemetry:\n  enabled: false\n"

#: engines kept open at once (the run's shard, the index shard, and a few runs read by the UI)
_MAX_ENGINES = 8


def ensure_dagster_home(home: Path) -> Path:
    """Create ``home`` with DAGSTER_YAML unless it has a dagster.yaml of its own."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or config.read_text() == _OLD_DAGSTER_YAML:
        tmp = config.with_name(f".dagster.yaml.{os.getpid()}.tmp")
        tmp.write_text(DAGSTER_YAML)
        os.replace(tmp, config)
    return home


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` with pooled connections and ``synchronous=NORMAL`` (module docstring).

    ``base_dir`` defaults to ``$DAGSTER_HOME/history/runs``, where Dagster's default storage keeps it.
    """

    def __init__(self, base_dir: str | None = None, inst_data=None):
        self._engines: OrderedDict[str, db.engine.Engine] = OrderedDict()
        self._engines_pid = os.getpid()
        super().__init__(base_dir or str(Path(os.environ["DAGSTER_HOME"]) / "history" / "runs"), inst_data)

    @classmethod
    def config_type(cls):
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> db.engine.Engine:
        if self._engines_pid != os.getpid():  # forked: the parent's connections are not ours to use
            self._engines, self._engines_pid = OrderedDict(), os.getpid()
        engine = self._engines.pop(shard, None)
        if engine is None:
            engine = db.create_engine(self.conn_string_for_shard(shard), connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
            db.event.listen(engine, "connect", _tune)
        self._engines[shard] = engine
        while len(self._engines) > _MAX_ENGINES:
            self._engines.popitem(last=False)[1].dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str):
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def dispose(self) -> None:
        with self._db_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()
        super().dispose()


def _tune(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


if __name__ == "__main__":  # make dev: python -m orchestration.instance_storage <DAGSTER_HOME>
    print(ensure_dagster_home(Path(sys.argv[1])))
