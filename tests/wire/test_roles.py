"""The role names come from the SMI `Role` enum, and every list of roles is that one."""

from __future__ import annotations

import pytest

from mlos import config
from mlos.client import base
from mlos.core import auth
from mlos.errors import InvalidArgument
from mlos.wire.roles import ROLE_NAMES, ROLES, role_by_name, roles_text
from mlos_generated import smi_pb2


def test_names_are_the_enum_without_prefix_lowest_access_first() -> None:
    assert ROLE_NAMES == {
        smi_pb2.ROLE_VIEWER: "viewer",
        smi_pb2.ROLE_INFERENCE: "inference",
        smi_pb2.ROLE_OPERATOR: "operator",
        smi_pb2.ROLE_ADMIN: "admin",
    }
    assert ROLES == ("viewer", "inference", "operator", "admin")
    assert roles_text() == "viewer, inference, operator or admin"


def test_role_by_name_reads_any_case_and_refuses_other_words() -> None:
    assert role_by_name("Operator") == smi_pb2.ROLE_OPERATOR
    with pytest.raises(InvalidArgument, match="unknown role 'root': use viewer, inference"):
        role_by_name("root")
    with pytest.raises(InvalidArgument):
        role_by_name("unspecified")


def test_core_client_and_config_use_the_one_table() -> None:
    assert auth.ROLE_NAMES is ROLE_NAMES
    assert base.ROLES is ROLES
    assert config.ROLES is ROLES
