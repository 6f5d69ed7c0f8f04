"""The built-in TensorFlow plugin: SavedModel, Keras and TFLite models behind SMI.

Installed as the entry point ``tensorflow`` in the group ``mlos.plugins`` (extra
``mlos[tensorflow]``); the core runs it in a plugin process of its own, exactly like a
third-party plugin.
"""

from mlos_plugins.tensorflow.model import TensorFlowModel
from mlos_plugins.tensorflow.options import OPTIONS, TensorFlowConfig
from mlos_plugins.tensorflow.plugin import TensorFlowPlugin

__all__ = ["OPTIONS", "TensorFlowConfig", "TensorFlowModel", "TensorFlowPlugin"]
