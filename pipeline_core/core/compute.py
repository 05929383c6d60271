"""``ComputeTarget`` and ``AmlCompute``: accepted and recorded; steps run on the Functions workers."""

from __future__ import annotations

from typing import Any

from pipeline_core._warnings import warn_ignored


class ComputeTarget:
    """A named registration. ``ComputeTarget(workspace, name)`` finds or makes one, so AML code runs unchanged."""

    def __init__(self, workspace: Any = None, name: str | None = None, **kwargs: Any):
        self.workspace = workspace
        self.name = name or "local"
        self.provisioning_state = "Succeeded"
        self.recorded = dict(kwargs)
        warn_ignored("compute targets (ComputeTarget, AmlCompute, compute_target=)")
        if workspace is not None and hasattr(workspace, "_register_compute"):
            workspace._register_compute(self)

    @staticmethod
    def create(workspace: Any, name: str, provisioning_configuration: Any) -> ComputeTarget:
        target = AmlCompute(workspace, name)
        target.recorded["provisioning_configuration"] = getattr(provisioning_configuration, "__dict__", {})
        return target

    def wait_for_completion(self, show_output: bool = False, min_node_count: int | None = None,
                            timeout_in_minutes: int = 20, is_delete_operation: bool = False) -> None:
        return None

    def get_status(self) -> str:
        return "Succeeded"

    def delete(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class _ProvisioningConfiguration:
    def __init__(self, **kwargs: Any):
        self.__dict__.update(kwargs)


class AmlCompute(ComputeTarget):
    @staticmethod
    def provisioning_configuration(vm_size: str = "", vm_priority: str = "dedicated", min_nodes: int = 0,
                                   max_nodes: int | None = None, idle_seconds_before_scaledown: int | None = None,
                                   **kwargs: Any) -> _ProvisioningConfiguration:
        return _ProvisioningConfiguration(vm_size=vm_size, vm_priority=vm_priority, min_nodes=min_nodes,
                                          max_nodes=max_nodes, **kwargs)

    @staticmethod
    def supported_vmsizes(workspace: Any, location: str | None = None) -> list[dict[str, Any]]:
        return []
