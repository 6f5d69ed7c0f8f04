"""The registry store: upserts, deletes and reopening, on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.dialects import postgresql

from mlos.core.store import ModelRecord, PluginRecord, RegistryStore, models_table, upsert


def test_plugins_areupserted_deleted_and_survive_a_reopen(tmp_path: Path) -> None:
    store = RegistryStore.sqlite(tmp_path / "registry.db")
    store.put_plugin(PluginRecord("onnx", "", "entry_point", "onnx"))
    store.put_plugin(PluginRecord("torch", "", "entry_point", "torch"))
    store.put_plugin(PluginRecord("onnx", "1.2", "module", "pkg.mod:Plugin", loaded=True))
    store.delete_plugin("torch")
    store.delete_plugin("never-registered")
    store.close()

    reopened = RegistryStore.sqlite(tmp_path / "registry.db")
    assert reopened.plugins() == [PluginRecord("onnx", "1.2", "module", "pkg.mod:Plugin", True)]
    reopened.close()


def test_models_are_keyed_by_name_and_version(tmp_path: Path) -> None:
    store = RegistryStore.sqlite(tmp_path / "registry.db")
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


def test_the_postgresqlupsert_updates_every_column_but_the_key() -> None:
    statement = upsert("postgresql", models_table, ["name", "version"])
    sql = str(statement.compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]
    assert "ON CONFLICT (name, version) DO UPDATE SET" in sql
    for column in ("plugin", "path", "config", "loaded"):
        assert f"{column} = excluded.{column}" in sql
