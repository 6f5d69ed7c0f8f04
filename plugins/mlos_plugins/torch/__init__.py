"""The built-in PyTorch plugin: TorchScript archives and torch.export programs behind SMI.

Installed as the entry point ``torch`` in the group ``mlos.plugins`` (extra ``mlos[torch]``);
the core runs it in a plugin process of its own, exactly like a third-party plugin. Files made
with ``torch.save`` (pickles) are refused: loading them would run arbitrary code.
"""

from mlos_plugins.torch.archive import ArchiveKind, inspect_archive
from mlos_plugins.torch.model import TorchModel
from mlos_plugins.torch.options import OPTIONS, TorchConfig
from mlos_plugins.torch.plugin import TorchPlugin

__all__ = ["OPTIONS", "ArchiveKind", "TorchConfig", "TorchModel", "TorchPlugin", "inspect_archive"]
