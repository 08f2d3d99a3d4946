import pytest

# the device check's plan: declared costs, the `extended` mark, --deadline, --run-log, --timeout
pytest_plugins = ["gpu_plan"]


def cuda_probe():
    """(usable, why not): torch.cuda.is_available() answering False is 'no CUDA'; anything else that goes
    wrong while asking (torch does not import, the driver or runtime fails, a warning about the set-up) is
    a broken CUDA set-up and is returned as the exception."""
    import warnings

    import torch
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # torch warns (not raises) on a driver/runtime mismatch
        return torch.cuda.is_available()


@pytest.hookimpl(trylast=True)   # after -m deselected: only the GPU tests that will run ask for CUDA
def pytest_collection_modifyitems(config, items):
    config._cuda_broken = None
    if not any("gpu" in item.keywords for item in items):
        return          # nothing to decide: a run without GPU tests does not pay for importing torch
    try:
        usable, broken = cuda_probe(), None
    except Exception as exc:  # every failure other than a plain "no CUDA" becomes an error of each GPU test
        usable, broken = False, exc
    config._cuda_broken = broken
    if usable:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (run scripts/device_check.sh on one)")
    for item in items:
        if "gpu" in item.keywords and broken is None:
            item.add_marker(skip)


def pytest_runtest_setup(item):
    broken = getattr(item.config, "_cuda_broken", None)
    if broken is not None and "gpu" in item.keywords:
        raise RuntimeError(f"the CUDA probe failed ({type(broken).__name__}: {broken}); a GPU test cannot "
                           f"run and is not skipped: fix the CUDA set-up")
