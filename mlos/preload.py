"""Models registered when the server starts: the `models` setting, and the demo.

A container platform hands a server its model as files in a known place (KServe mounts the
model at `/mnt/models`), with nobody to call `mlos model register`; the `models` setting does it:

    mlos serve --models resnet@onnx=/mnt/models

:func:`ensure_models` is idempotent: a plugin that is registered is kept (and loaded if it is
not running), a model that is registered already (restored from the registry) is kept as it is.
A model that fails to register stops the start, so a platform sees the node never get ready.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from mlos.config import StartupModel
from mlos.core.dataplane import Dataplane
from mlos.errors import NotFound
from mlos_generated import smi_pb2

__all__ = ["ensure_models"]

logger = logging.getLogger("mlos.server")

_NOT_RUNNING = (
    smi_pb2.PLUGIN_STATE_REGISTERED,
    smi_pb2.PLUGIN_STATE_FAILED,
    smi_pb2.PLUGIN_STATE_UNLOADED,
)


async def ensure_models(engine: Dataplane, models: Sequence[StartupModel]) -> None:
    """Register (and load) each model's plugin when needed, then each model if missing."""
    plugins = {p.name: p for p in (await engine.list_plugins()).plugins}
    for model in models:
        if model.plugin:
            plugin = plugins.get(model.plugin)
            if plugin is None:
                plugin = await engine.register_plugin(
                    smi_pb2.RegisterPluginRequest(name=model.plugin)
                )
            if plugin.state in _NOT_RUNNING:
                plugin = await engine.load_plugin(model.plugin)
            plugins[model.plugin] = plugin
        try:
            await engine.get_model(model.name)
            continue
        except NotFound:
            pass
        request = smi_pb2.RegisterModelRequest(
            name=model.name, plugin=model.plugin, path=str(model.path)
        )
        status = await engine.register_model(request)
        logger.info(
            "registered model %s version %s from %s", status.name, status.version, model.path
        )
