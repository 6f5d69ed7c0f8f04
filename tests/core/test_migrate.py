"""Schema migrations on a real SQLite file and a real PostgreSQL database.

A registry written before migrations existed opens with nothing lost; a new database gets
exactly the tables the store uses; a database from a newer MLOS is refused untouched; nodes
opening one database together migrate it once; a failing revision leaves the database as it was.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from mlos.core import migrate
from mlos.core.schema import VERSION_TABLE, metadata
from mlos.core.store import ModelRecord, PluginRecord, RegistryStore
from mlos.database_url import normalize
from mlos.errors import FailedPrecondition
from mlos.sandbox.limits import Limits
from tests.core.legacy_schema import legacy_metadata

LEGACY_PLUGINS = [
    {"name": "onnx", "version": "", "source_kind": "entry_point", "source": "onnx", "loaded": True},
    {"name": "ext", "version": "2.1", "source_kind": "executable", "source": "/opt/p/bin/x",
     "loaded": False},
]
LEGACY_MODELS = [
    {"name": "resnet", "version": "1", "plugin": "onnx", "path": "/m/r1.onnx",
     "config": '{"max_batch_size": "8"}', "loaded": True},
    {"name": "resnet", "version": "2", "plugin": "onnx", "path": "/m/r2.onnx", "config": "{}",
     "loaded": False},
    {"name": "ünïcode", "version": "1", "plugin": "ext", "path": "/m/ü.bin", "config": "{}",
     "loaded": True},
]


def write_legacy_registry(url: str) -> None:
    """A registry as the pre-migration MLOS wrote it: its DDL, then rows."""
    engine = create_engine(normalize(url))
    legacy_metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(legacy_metadata.tables["plugins"].insert(), LEGACY_PLUGINS)
        conn.execute(legacy_metadata.tables["models"].insert(), LEGACY_MODELS)
    engine.dispose()


def revision_of(url: str) -> str | None:
    engine = create_engine(normalize(url))
    with engine.connect() as conn:
        revision = MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE}
        ).get_current_revision()
    engine.dispose()
    return revision


def tables_of(url: str) -> set[str]:
    engine = create_engine(normalize(url))
    names = set(inspect(engine).get_table_names())
    engine.dispose()
    return names


def test_a_pre_migration_registry_opens_with_nothing_lost(registry_url: str) -> None:
    write_legacy_registry(registry_url)
    assert revision_of(registry_url) is None

    store = RegistryStore(registry_url)
    assert store.migration.stamped
    assert (store.migration.before, store.migration.after) == (None, migrate.head())
    assert store.plugins() == [
        PluginRecord("ext", "2.1", "executable", "/opt/p/bin/x", loaded=False),
        PluginRecord("onnx", "", "entry_point", "onnx", loaded=True),
    ]
    assert store.models() == [
        ModelRecord("resnet", "1", "onnx", "/m/r1.onnx", {"max_batch_size": "8"}, loaded=True),
        ModelRecord("resnet", "2", "onnx", "/m/r2.onnx", {}, loaded=False),
        ModelRecord("ünïcode", "1", "ext", "/m/ü.bin", {}, loaded=True),
    ]
    # The migrated registry takes writes like a new one, and keeps them across a reopen.
    store.put_model(ModelRecord("resnet", "3", "onnx", "/m/r3.onnx"))
    store.close()

    reopened = RegistryStore(registry_url)
    assert not reopened.migration.changed
    assert [m.version for m in reopened.models() if m.name == "resnet"] == ["1", "2", "3"]
    reopened.close()
    assert revision_of(registry_url) == migrate.head()


def test_a_new_database_gets_exactly_the_tables_the_store_uses(registry_url: str) -> None:
    store = RegistryStore(registry_url)
    assert store.migration == migrate.Migration(None, migrate.head())
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        differences = compare_metadata(context, metadata)
    store.close()
    assert differences == []
    assert tables_of(registry_url) == {"plugins", "models", "tokens", "nodes", VERSION_TABLE}


def test_a_database_from_a_newer_mlos_is_refused_untouched(registry_url: str) -> None:
    RegistryStore(registry_url).close()
    engine = create_engine(normalize(registry_url))
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
        conn.execute(text("INSERT INTO plugins (name, version, source_kind, source, loaded) VALUES ('onnx', '', 'entry_point', 'onnx', true)"))
    engine.dispose()

    with pytest.raises(FailedPrecondition, match=r"'9999'.*upgrade MLOS"):
        RegistryStore(registry_url)
    assert revision_of(registry_url) == "9999"
    engine = create_engine(normalize(registry_url))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM plugins")).scalars().all() == ["onnx"]
    engine.dispose()


def test_a_database_with_half_a_registry_is_refused(registry_url: str) -> None:
    engine = create_engine(normalize(registry_url))
    legacy_metadata.tables["plugins"].create(engine)
    engine.dispose()
    with pytest.raises(FailedPrecondition, match="plugins but not models"):
        RegistryStore(registry_url)
    assert tables_of(registry_url) == {"plugins"}


def test_nodes_opening_one_database_together_migrate_it_once(registry_url: str) -> None:
    migrations: list[migrate.Migration] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_store() -> None:
        try:
            start.wait()
            store = RegistryStore(registry_url)
            migrations.append(store.migration)
            store.close()
        except BaseException as exc:  # asserted in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(m.changed for m in migrations) == [False, False, False, True]
    assert revision_of(registry_url) == migrate.head()


def _scripts_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    """Run the store's migrations from a copy with one more revision, `body` its upgrade()."""
    scripts = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "9000_next.py").write_text(
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f"revision = '9000'\ndown_revision = {migrate.head()!r}\n"
        "branch_labels = None\ndepends_on = None\n\n\n"
        f"def upgrade() -> None:\n{body}\n\n\ndef downgrade() -> None:\n    pass\n"
    )
    monkeypatch.setattr(migrate, "MIGRATIONS", scripts)


def test_an_older_registry_is_upgraded_revision_by_revision(
    registry_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_legacy_registry(registry_url)
    _scripts_with(
        tmp_path, monkeypatch,
        "    op.add_column('models', sa.Column('placement', sa.Text, nullable=True))\n"
        "    op.execute(\"UPDATE models SET placement = 'all'\")",
    )
    store = RegistryStore(registry_url)
    assert (store.migration.before, store.migration.after, store.migration.stamped) == (
        None, "9000", True
    )
    assert len(store.models()) == len(LEGACY_MODELS)
    store.close()
    engine = create_engine(normalize(registry_url))
    with engine.connect() as conn:
        placements = conn.execute(text("SELECT placement FROM models")).scalars().all()
    engine.dispose()
    assert placements == ["all"] * len(LEGACY_MODELS)
    assert revision_of(registry_url) == "9000"


def test_a_failing_revision_leaves_the_database_as_it_was(
    registry_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_legacy_registry(registry_url)
    _scripts_with(
        tmp_path, monkeypatch,
        "    op.create_table('half_done', sa.Column('id', sa.Integer, primary_key=True))\n"
        "    raise RuntimeError('revision 9000 fails')",
    )
    with pytest.raises(RuntimeError, match="9000 fails"):
        RegistryStore(registry_url)
    # Not even the stamp of the pre-migration registry was kept: the next MLOS starts afresh.
    assert revision_of(registry_url) is None
    assert tables_of(registry_url) == {"plugins", "models"}
    monkeypatch.undo()
    store = RegistryStore(registry_url)
    assert len(store.plugins()) == len(LEGACY_PLUGINS)
    store.close()


def test_a_0003_registry_gains_the_plugin_interpreter(registry_url: str) -> None:
    from alembic import command

    engine = create_engine(normalize(registry_url))
    config = migrate._config()
    with engine.connect() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")
        conn.execute(
            text(
                "INSERT INTO plugins (name, version, source_kind, source, loaded, limits) "
                "VALUES ('onnx', '1.2', 'entry_point', 'onnx', true, '{\"open_files\": 64}')"
            )
        )
        conn.commit()
    engine.dispose()
    assert revision_of(registry_url) == "0003"

    store = RegistryStore(registry_url)
    assert (store.migration.before, store.migration.after) == ("0003", migrate.head())
    (plugin,) = store.plugins()
    assert (plugin.name, plugin.version, plugin.python, plugin.limits.open_files) == (
        "onnx", "1.2", "", 64
    )
    store.put_plugin(PluginRecord("other", "2", "module", "a.b:C", python="/opt/env/bin/python"))
    store.close()
    reopened = RegistryStore(registry_url)
    assert {p.name: p.python for p in reopened.plugins()} == {
        "onnx": "", "other": "/opt/env/bin/python"
    }
    reopened.close()


def test_a_0006_registry_gains_plugin_versions(registry_url: str) -> None:
    from alembic import command

    engine = create_engine(normalize(registry_url))
    config = migrate._config()
    with engine.connect() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0006")
        conn.execute(
            text(
                "INSERT INTO plugins (name, version, source_kind, source, loaded, limits, python) "
                "VALUES ('onnx', '1.4', 'entry_point', 'onnx', true, '{\"open_files\": 64}', "
                "'/opt/env/bin/python'), ('ext', '', 'executable', '/opt/x', false, '{}', '')"
            )
        )
        conn.commit()
    engine.dispose()
    assert revision_of(registry_url) == "0006"

    store = RegistryStore(registry_url)
    assert (store.migration.before, store.migration.after) == ("0006", "0007")
    # Every plugin registered before is its name's default, labelled with its name.
    assert store.plugins() == [
        PluginRecord("ext", "", "executable", "/opt/x", loaded=False),
        PluginRecord("onnx", "1.4", "entry_point", "onnx", loaded=True,
                     limits=Limits(open_files=64), python="/opt/env/bin/python"),
    ]  # fmt: skip
    assert [(p.key, p.is_default) for p in store.plugins()] == [("ext", True), ("onnx", True)]
    # A second version of one name is a row of its own now; the same version replaces its row.
    store.put_plugin(
        PluginRecord("onnx", "2.0", "module", "a.b:C", is_default=False, label="onnx@2.0")
    )
    store.put_plugin(
        PluginRecord("onnx", "2.0", "module", "a.b:D", is_default=False, label="onnx@2.0")
    )
    store.close()
    reopened = RegistryStore(registry_url)
    assert [(p.name, p.version, p.source, p.is_default, p.key) for p in reopened.plugins()] == [
        ("ext", "", "/opt/x", True, "ext"),
        ("onnx", "1.4", "onnx", True, "onnx"),
        ("onnx", "2.0", "a.b:D", False, "onnx@2.0"),
    ]
    reopened.delete_plugin("onnx", "1.4")
    assert [(p.name, p.version) for p in reopened.plugins()] == [("ext", ""), ("onnx", "2.0")]
    reopened.close()

