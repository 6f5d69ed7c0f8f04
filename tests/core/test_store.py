"""The registry store on a real SQLite file and a real PostgreSQL database: upserts, deletes,
reopening, concurrent writers, and the errors of a database that cannot be used."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy.dialects import postgresql

from mlos.cluster.process import free_port
from mlos.core.budget import Demand
from mlos.core.store import ModelRecord, PluginRecord, RegistryStore, models_table, upsert
from mlos.errors import InvalidArgument, Unavailable


def test_plugins_are_upserted_deleted_and_survive_a_reopen(registry_url: str) -> None:
    store = RegistryStore(registry_url)
    store.put_plugin(PluginRecord("onnx", "", "entry_point", "onnx"))
    store.put_plugin(PluginRecord("torch", "", "entry_point", "torch"))
    store.put_plugin(PluginRecord("onnx", "1.2", "module", "pkg.mod:Plugin", loaded=True))
    store.delete_plugin("torch")
    store.delete_plugin("never-registered")
    store.close()

    reopened = RegistryStore(registry_url)
    assert reopened.plugins() == [PluginRecord("onnx", "1.2", "module", "pkg.mod:Plugin", True)]
    reopened.close()


def test_models_are_keyed_by_name_and_version(registry_url: str) -> None:
    store = RegistryStore(registry_url)
    store.put_model(ModelRecord("m", "1", "onnx", "/models/a.onnx", {"k": "v"}))
    store.put_model(ModelRecord("m", "2", "onnx", "/models/b.onnx"))
    store.put_model(ModelRecord("m", "1", "onnx", "/models/c.onnx", {}, loaded=False))
    store.put_model(ModelRecord("other", "1", "onnx", "/models/d.onnx"))
    store.delete_model("other", "1")
    store.delete_model("m", "9")
    assert store.models() == [
        ModelRecord("m", "1", "onnx", "/models/c.onnx", {}, loaded=False),
        ModelRecord("m", "2", "onnx", "/models/b.onnx", {}, loaded=True),
    ]
    store.close()


def test_what_a_model_declared_of_the_budget_survives_a_reopen(registry_url: str) -> None:
    demand = Demand(memory_bytes=600 * 2**20, cpus=1.5, gpus=1)
    store = RegistryStore(registry_url)
    store.put_model(ModelRecord("m", "1", "onnx", "/models/a.onnx", resources=demand))
    store.put_model(ModelRecord("n", "1", "onnx", "/models/b.onnx"))
    store.close()
    reopened = RegistryStore(registry_url)
    assert [record.resources for record in reopened.models()] == [demand, Demand()]
    reopened.close()


def test_the_store_reports_its_dialect(registry_url: str) -> None:
    store = RegistryStore(registry_url)
    assert store.dialect == registry_url.split(":", 1)[0].split("+", 1)[0]
    store.close()


def test_concurrent_writers_of_the_same_keys_never_conflict(registry_url: str) -> None:
    """Two stores (two nodes) upserting the same rows at once: every write succeeds, one row
    per key remains, holding one of the written values."""
    stores = [RegistryStore(registry_url), RegistryStore(registry_url)]
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        store = stores[worker % 2]
        try:
            for i in range(40):
                store.put_model(ModelRecord("m", str(i % 4), "onnx", f"/w{worker}/{i}"))
                store.put_plugin(PluginRecord("onnx", str(worker), "entry_point", "onnx"))
        except BaseException as exc:  # collected, then asserted in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    models = stores[0].models()
    assert [(m.name, m.version) for m in models] == [("m", "0"), ("m", "1"), ("m", "2"), ("m", "3")]
    assert all(m.path.startswith("/w") for m in models)
    assert [p.name for p in stores[1].plugins()] == ["onnx"]
    for store in stores:
        store.close()


def test_sqlite_creates_the_folder_of_its_file(tmp_path: Path) -> None:
    store = RegistryStore.sqlite(tmp_path / "deep" / "er" / "registry.db")
    store.put_plugin(PluginRecord("onnx", "", "entry_point", "onnx"))
    store.close()
    assert (tmp_path / "deep" / "er" / "registry.db").is_file()


@pytest.mark.parametrize(
    "url", ["mysql://user@host/db", "sqlite://", "not a url", "postgresql://u@h:port/db"]
)
def test_a_bad_url_is_an_invalid_argument(url: str) -> None:
    with pytest.raises(InvalidArgument):
        RegistryStore(url)


def test_an_unreachable_postgresql_is_unavailable_and_the_password_stays_secret() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(Unavailable) as caught:
        RegistryStore(f"postgresql://mlos:s3cret-pw@127.0.0.1:{port}/mlos")
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message
    assert "refused" in message.lower()
    assert "s3cret-pw" not in message


def test_the_postgresql_upsert_updates_every_column_but_the_key() -> None:
    statement = upsert("postgresql", models_table, ["name", "version"])
    sql = str(statement.compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]
    assert "ON CONFLICT (name, version) DO UPDATE SET" in sql
    for column in ("plugin", "path", "config", "loaded"):
        assert f"{column} = excluded.{column}" in sql


def test_the_change_marker_moves_for_foreign_writes_only(tmp_path: Path) -> None:
    store = RegistryStore.sqlite(tmp_path / "registry.db")
    other = RegistryStore.sqlite(tmp_path / "registry.db")  # another node on the same file
    try:
        before = store.change_marker()
        assert before is not None
        store.put_plugin(PluginRecord("onnx", "", "entry_point", "onnx"))
        store.put_model(ModelRecord("m", "1", "onnx", "/models/a.onnx"))
        store.delete_model("m", "1")
        assert store.change_marker() == before  # its own writes are in what the reader holds
        other.put_plugin(PluginRecord("torch", "", "entry_point", "torch"))
        after = store.change_marker()
        assert after != before
        with store.engine.begin() as conn:  # a write on another connection of the same store
            conn.execute(models_table.delete())
        assert store.change_marker() != after
    finally:
        other.close()
        store.close()
