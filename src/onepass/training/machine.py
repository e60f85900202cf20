"""What a run's numbers depend on besides the code, the settings and the seed: torch and the processor.

A seeded run is bit-identical when repeated on the same kind of processor with the same torch build.
On another kind it need not be: torch picks its CPU kernels by the vector instructions it finds
(AVX2, AVX-512, ...), and kernels of different widths can round a sum differently in the last bit.
A few thousand steps of training, chaotic as they are, amplify that into visibly different final
values for single runs (not for their distribution). So every result records the processor and
torch's kernel level beside the versions: two results are expected to agree bit for bit only where
these match.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

CPUINFO = Path("/proc/cpuinfo")


def cpu_model(cpuinfo: Path = CPUINFO) -> str:
    """The processor's model name (Linux reports it in /proc/cpuinfo; elsewhere what Python knows)."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def describe_processor() -> dict[str, str]:
    """The processor's model name and the vector instruction level torch's CPU kernels use here."""
    import torch  # imported here: the pipeline's manifest writer need not load torch at import

    return {"cpu": cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def describe_machine(device: torch.device | str | None = None) -> dict[str, Any]:
    """Versions, processor and torch's CPU kernel level (and the GPU's name when ``device`` is one)."""
    import torch

    described: dict[str, Any] = {"torch": torch.__version__, "python": platform.python_version()}
    if device is not None:
        described["device"] = str(device)
    described.update(describe_processor())
    if device is not None and torch.device(device).type == "cuda":
        described["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return described
