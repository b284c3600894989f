"""The Dagster instance crm-pulse creates (``<warehouse>/dagster_home``): its ``dagster.yaml``, an
event log that costs what the run history needs, and :func:`open_instance` (several processes may
create the instance at once).

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

import json
import os
import sys
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as db
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS

from crm_pulse.warehouse.lock import instance_init_lock
from data_contracts.files import replacing

#: First line of the dagster.yaml crm-pulse writes: such a file is crm-pulse's to keep up to date.
MARKER = "# written by crm-pulse (orchestration/instance_storage.py); a dagster.yaml without this line is left alone"
#: what earlier versions wrote; such a file is replaced as well (nothing else was in it)
_OLD_DAGSTER_YAML = "telemetry:\n  enabled: false\n"
_MODULE = "orchestration.instance_storage"  # what Dagster imports, also when this file runs as __main__

#: engines kept open at once (the run's shard, the index shard, and a few runs read by the UI)
_MAX_ENGINES = 8


def dagster_yaml(home: Path) -> str:
    """The dagster.yaml of an instance crm-pulse creates (README "Configuration", ``DAGSTER_HOME``):
    telemetry off, the event log in Dagster's default place through :class:`PooledSqliteEventLogStorage`."""
    runs = json.dumps(str(Path(home).resolve() / "history" / "runs"))  # a JSON string is a YAML string
    return (f"{MARKER}\ntelemetry:\n  enabled: false\nevent_log_storage:\n  module: {_MODULE}\n"
            f"  class: {PooledSqliteEventLogStorage.__name__}\n  config:\n    base_dir: {runs}\n")


def ensure_dagster_home(home: Path) -> Path:
    """Create ``home`` with :func:`dagster_yaml` unless it has a dagster.yaml of its own; keep one that
    crm-pulse wrote pointing at ``home`` (a warehouse that was moved or copied)."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    config, wanted = home / "dagster.yaml", dagster_yaml(home)
    current = config.read_text(encoding="utf-8") if config.exists() else None
    if current is None or current == _OLD_DAGSTER_YAML or (current.startswith(MARKER) and current != wanted):
        with replacing(config) as tmp:
            tmp.write_text(wanted, encoding="utf-8")
    return home


def open_instance():
    """``DagsterInstance.get()`` (``$DAGSTER_HOME``) under :func:`instance_init_lock`."""
    from dagster import DagsterInstance

    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return DagsterInstance.get()
    with instance_init_lock(Path(home)):
        return DagsterInstance.get()


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` with pooled connections and ``synchronous=NORMAL`` (module docstring)."""

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict[str, db.engine.Engine] = OrderedDict()
        self._engines_pid = os.getpid()
        self._tables: set[str] = set()
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    def has_table(self, table_name: str) -> bool:
        """Asked for every asset check event (``supports_asset_checks``); Dagster's migrations add
        tables and never drop one, so a table found once is not looked up again."""
        if table_name not in self._tables and super().has_table(table_name):
            self._tables.add(table_name)
        return table_name in self._tables

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
