"""Results record the processor they were computed on, read from the real /proc/cpuinfo format."""

from __future__ import annotations

import platform

import torch

from onepass.training.machine import cpu_model, describe_machine, describe_processor

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480C
flags\t\t: fpu vme avx2 avx512f

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480C
"""


def test_cpu_model_reads_the_model_name_line(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO)
    assert cpu_model(cpuinfo) == "Intel(R) Xeon(R) Platinum 8480C"


def test_cpu_model_falls_back_to_what_python_knows(tmp_path):
    expected = platform.processor() or platform.machine() or "unknown"
    assert cpu_model(tmp_path / "missing") == expected
    without_name = tmp_path / "cpuinfo"
    without_name.write_text("processor\t: 0\nmodel name\t:\n")  # some ARM kernels leave it empty
    assert cpu_model(without_name) == expected


def test_machine_description_names_torch_and_its_kernel_level():
    described = describe_machine("cpu")
    assert described["torch"] == torch.__version__ and described["device"] == "cpu"
    assert described["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert described["cpu"] == cpu_model() and "gpu" not in described
    assert describe_processor() == {"cpu": described["cpu"], "cpu_capability": described["cpu_capability"]}
    assert "device" not in describe_machine()


def test_the_reproduction_manifest_names_the_processor(tmp_path):
    from onepass.pipeline.reproduction import describe_environment

    machine = describe_environment(tmp_path)["machine"]  # tmp_path: not a checkout, so no commit
    assert machine["cpu"] == cpu_model()
    assert machine["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
