"""The built-in ONNX plugin: onnxruntime sessions behind the Standard Model Interface.

Installed as the entry point ``onnx`` in the group ``mlos.plugins``; the core runs it in a plugin
process of its own, exactly like a third-party plugin.
"""

from mlos_plugins.onnx.model import OnnxModel
from mlos_plugins.onnx.options import OPTIONS, SessionConfig
from mlos_plugins.onnx.plugin import OnnxPlugin

__all__ = ["OPTIONS", "OnnxModel", "OnnxPlugin", "SessionConfig"]
