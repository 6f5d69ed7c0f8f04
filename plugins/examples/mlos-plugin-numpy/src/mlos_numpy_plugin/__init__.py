"""mlos-plugin-numpy: NumPy expression models served by MLOS, as a third-party plugin.

This distribution is separate from MLOS: it depends on `mlos` for the plugin SDK
(`mlos.sdk.ModelPlugin`) and registers itself with one entry point in the group
``mlos.plugins`` (see pyproject.toml). MLOS runs it in a plugin process of its own and speaks
to it only through the Standard Model Interface, as it does with its built-in plugins.
"""

from mlos_numpy_plugin.expression import FUNCTIONS, compile_expression
from mlos_numpy_plugin.model import ExpressionModel
from mlos_numpy_plugin.plugin import NumpyPlugin

__all__ = ["FUNCTIONS", "ExpressionModel", "NumpyPlugin", "compile_expression"]
