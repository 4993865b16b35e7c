"""The Flower runtime: the same AsynDBT state machines, driven over a Flower Grid (simulation or deployment).

``server_app`` / ``client_app`` are what a Flower App Bundle points at; :func:`make_apps` builds a
pair bound to one run config (Python-API simulation). See docs/flower.md.

Names load lazily (PEP 562), so ``asyndbt --help`` and the CLI group do not import Flower.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "client_app": "_apps", "make_apps": "_apps", "make_server_app": "_apps", "run_server": "_apps", "server_app": "_apps",
    "LocalDeployment": "_launch", "ModelServers": "_launch", "flwr_run": "_launch", "resume_job": "_launch",
    "run_local_deployment": "_launch", "prepare_run_config": "_launch", "read_run_result": "_launch",
    "run_simulation": "_launch", "write_app_dir": "_launch", "write_flwr_home": "_launch",
    "NodeRuntime": "_node", "build_node_env": "_node", "make_client_app": "_node", "write_partitions": "_node",
    "from_record": "_records", "to_record": "_records", "FlowerServer": "_server", "describe_payload": "_server",
    "FlowerSettings": "_settings", "make_run_config": "_settings", "read_run_config": "_settings",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)


__all__ = [
    "FlowerServer",
    "FlowerSettings",
    "LocalDeployment",
    "ModelServers",
    "NodeRuntime",
    "build_node_env",
    "client_app",
    "describe_payload",
    "flwr_run",
    "run_local_deployment",
    "from_record",
    "make_apps",
    "make_client_app",
    "make_run_config",
    "make_server_app",
    "prepare_run_config",
    "read_run_config",
    "read_run_result",
    "resume_job",
    "run_server",
    "run_simulation",
    "server_app",
    "to_record",
    "write_app_dir",
    "write_flwr_home",
    "write_partitions",
]
