"""setup.py checks the toolkit against torch before compiling: a mismatched nvcc falls back in one line."""
import os
import stat
import subprocess
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fake_toolkit(tmp_path, release):
    nvcc = tmp_path / "cuda" / "bin" / "nvcc"
    nvcc.parent.mkdir(parents=True)
    nvcc.write_text("#!/bin/sh\necho 'nvcc: NVIDIA (R) Cuda compiler driver'\n"
                    f"echo 'Cuda compilation tools, release {release}, V{release}.1'\n")
    nvcc.chmod(nvcc.stat().st_mode | stat.S_IEXEC)
    return str(nvcc.parent.parent)


def _setup(cuda_home, **env):
    e = {**os.environ, "CUDA_HOME": cuda_home, **env}
    e.pop("ACCELKERN_NO_EXTENSION", None)
    return subprocess.run([sys.executable, "setup.py", "--name"], cwd=ROOT, env=e, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.skipif(not torch.version.cuda, reason="needs a CUDA build of torch to mismatch against")
def test_mismatched_nvcc_falls_back_to_pure_python_in_one_line(tmp_path):
    other = "11.8" if not torch.version.cuda.startswith("11.") else "12.4"
    r = _setup(_fake_toolkit(tmp_path, other))
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("accelkern setup:")]
    cuda = [ln for ln in lines if "_C " in ln]
    assert len(cuda) == 1, r.stderr
    assert f"nvcc is CUDA {other}" in cuda[0] and f"torch was built with CUDA {torch.version.cuda}" in cuda[0]
    assert "accelkern._C (the CUDA kernels) is not built" in cuda[0]
    # the CPU kernels need no CUDA: they are still built
    assert [ln for ln in lines if ln not in cuda] == [
        ln for ln in lines if ln.startswith("accelkern setup: building accelkern._cpu")] and len(lines) == 2
    assert r.stdout.strip() == "accelkern"


def test_no_cuda_toolkit_still_builds_the_cpu_kernels(tmp_path):
    r = _setup(str(tmp_path / "no-cuda"))
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("accelkern setup:")]
    assert r.returncode == 0 and any("no CUDA toolkit found" in ln for ln in lines), r.stderr
    assert any("building accelkern._cpu" in ln for ln in lines)


@pytest.mark.skipif(not torch.version.cuda, reason="needs a CUDA build of torch to mismatch against")
def test_mismatched_nvcc_fails_when_the_extension_is_required(tmp_path):
    r = _setup(_fake_toolkit(tmp_path, "11.8" if not torch.version.cuda.startswith("11.") else "12.4"),
               ACCELKERN_REQUIRE_EXTENSION="1")
    assert r.returncode != 0
    assert "ACCELKERN_REQUIRE_EXTENSION=1 but accelkern._C cannot be built" in r.stderr
    assert "Traceback" not in r.stderr
