import pytest


def _cuda_available() -> bool:
    try:
        import torch
        return torch.cuda.is_available()
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    if _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (run scripts/device_check.sh on one)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
