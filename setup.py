"""Build of accelkern._C, the project's only build logic.

Environment switches (all optional):
  ACCELKERN_CUDA_ARCHS     ';'-separated targets, default "80;90a". "90a" enables the
                           sm_90a-only sources (files named *_sm90a.cu: wgmma, TMA).
  ACCELKERN_PTXAS_VERBOSE  1 -> pass -Xptxas -v (registers, shared memory, spills per kernel).
  ACCELKERN_NO_EXTENSION   1 -> install the pure-Python package only (neither extension).
  ACCELKERN_REQUIRE_EXTENSION 1 -> fail instead of falling back to pure-Python (CI): both extensions.
  MAX_JOBS                 parallel compile jobs (torch's ninja build and the sm_90a objects).

Two extensions:
  accelkern._C    the CUDA extension (csrc/*.cu, csrc/bindings.cpp): needs torch and nvcc of torch's CUDA major.
  accelkern._cpu  the CPU kernels (csrc/cpu/): a C++ compiler and pybind11's headers (from the pybind11 package
                  or torch's include directory) suffice; no CUDA, no libtorch. Each kernel is compiled for its
                  ISA with function target attributes (never -march), so one build runs on any x86-64.
Without torch or a CUDA toolkit the package installs without _C and says so; the torch backend still
works and `accelkern info` explains how to build the extension.
"""
import glob
import os
import subprocess
import sys
import sysconfig
from concurrent.futures import ThreadPoolExecutor

from setuptools import setup

ROOT = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join(ROOT, "csrc")


def _note(msg):
    print(f"accelkern setup: {msg}", file=sys.stderr)


def _archs():
    raw = os.environ.get("ACCELKERN_CUDA_ARCHS", "80;90a")
    archs = [a.strip() for a in raw.replace(",", ";").split(";") if a.strip()]
    for a in archs:
        if not a.rstrip("a").isdigit():
            raise SystemExit(f"ACCELKERN_CUDA_ARCHS: '{a}' is not an arch like 80, 90 or 90a")
    return archs


def _gencode(archs):
    """-gencode flags: SASS for every arch, plus PTX of the lowest generic arch for newer GPUs."""
    flags = []
    for a in archs:
        flags += ["-gencode", f"arch=compute_{a},code=sm_{a}"]
    generic = sorted((a for a in archs if a.isdigit()), key=int)
    if generic:
        flags += ["-gencode", f"arch=compute_{generic[0]},code=compute_{generic[0]}"]
    return flags


def _find_cublas(cuda_home):
    """(include_dir, lib_dir, link_flags) for cuBLAS/cuBLASLt: CUDA_HOME first, then the nvidia wheel."""
    candidates = [(os.path.join(cuda_home, "include"), os.path.join(cuda_home, "lib64"))]
    purelib = sysconfig.get_paths()["purelib"]
    for root in sorted(glob.glob(os.path.join(purelib, "nvidia", "cu*")), reverse=True):
        candidates.append((os.path.join(root, "include"), os.path.join(root, "lib")))
    candidates.append((os.path.join(purelib, "nvidia", "cublas", "include"),
                       os.path.join(purelib, "nvidia", "cublas", "lib")))
    for inc, lib in candidates:
        if not os.path.isfile(os.path.join(inc, "cublasLt.h")):
            continue
        flags = []
        for name in ("cublasLt", "cublas"):
            if os.path.exists(os.path.join(lib, f"lib{name}.so")):
                flags.append(f"-l{name}")
                continue
            versioned = sorted(glob.glob(os.path.join(lib, f"lib{name}.so.*")), key=len)
            if not versioned:
                break
            flags.append(f"-l:{os.path.basename(versioned[0])}")
        else:
            return inc, lib, flags
    return None


def _nvcc_release(nvcc):
    """'13.0' from `nvcc --version` ('Cuda compilation tools, release 13.0, V13.0.48'), or None."""
    try:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for part in out.replace(",", " ").split():
        if part[:1].isdigit() and "." in part and out.find("release " + part) >= 0:
            return part
    return None


def _cuda_version_mismatch(nvcc, torch_cuda):
    """Why this nvcc cannot build against this torch (checked before compiling, so a mismatch falls back
    in one line instead of torch's error after half a minute), or None."""
    if not torch_cuda:
        return "torch is a build without CUDA (torch.version.cuda is None)"
    release = _nvcc_release(nvcc)
    if release is None:
        return f"{nvcc} --version did not say its CUDA release"
    if release.split(".")[0] != str(torch_cuda).split(".")[0]:
        return f"nvcc is CUDA {release} ({nvcc}) but torch was built with CUDA {torch_cuda}"
    return None


def _which_nvcc_root():
    from shutil import which
    nvcc = which("nvcc")
    return os.path.dirname(os.path.dirname(os.path.realpath(nvcc))) if nvcc else None


def _pybind11_include():
    """pybind11's headers: the pybind11 package, else the copy torch ships in its include directory."""
    try:
        import pybind11
        return pybind11.get_include()
    except ImportError:
        pass
    try:
        import torch
        inc = os.path.join(os.path.dirname(torch.__file__), "include")
        if os.path.isfile(os.path.join(inc, "pybind11", "pybind11.h")):
            return inc
    except Exception:
        pass
    return None


def _cpu_extension():
    """accelkern._cpu, or None (with a note) when pybind11's headers are nowhere to be found."""
    from setuptools import Extension
    if os.environ.get("ACCELKERN_NO_EXTENSION") == "1":
        return None
    inc = _pybind11_include()
    if inc is None:
        _note("pybind11 headers not found (pip install pybind11, or install torch first); accelkern._cpu "
              "(the CPU kernels) is not built")
        return None
    cpu_dir = os.path.join(CSRC, "cpu")
    sources = sorted(os.path.relpath(f, ROOT) for f in glob.glob(os.path.join(cpu_dir, "**", "*.cpp"), recursive=True))
    _note(f"building accelkern._cpu ({len(sources)} C++ sources; kernels dispatched at run time by CPUID)")
    return Extension("accelkern._cpu", sources=sources, include_dirs=[cpu_dir, inc], language="c++",
                     extra_compile_args=["-O2", "-std=c++17", "-fvisibility=hidden"],
                     extra_link_args=["-pthread"])


def _extension_modules():
    ext, cmd = _extension_modules_or_fallback()
    require = os.environ.get("ACCELKERN_REQUIRE_EXTENSION") == "1"
    if not ext and require:
        raise SystemExit("accelkern setup: ACCELKERN_REQUIRE_EXTENSION=1 but accelkern._C cannot be built (see above)")
    cpu = _cpu_extension()
    if cpu is None and require:
        raise SystemExit("accelkern setup: ACCELKERN_REQUIRE_EXTENSION=1 but accelkern._cpu cannot be built (see above)")
    return ext + ([cpu] if cpu is not None else []), cmd


def _extension_modules_or_fallback():
    if os.environ.get("ACCELKERN_NO_EXTENSION") == "1":
        _note("ACCELKERN_NO_EXTENSION=1: installing the pure-Python package (torch backend only)")
        return [], {}
    if not os.environ.get("CUDA_HOME") and not os.environ.get("CUDA_PATH"):
        # torch would take the parent of a symlinked `nvcc` on PATH (e.g. /usr/local); use the real toolkit
        for cand in ("/usr/local/cuda", _which_nvcc_root()):
            if cand and os.path.isfile(os.path.join(cand, "bin", "nvcc")):
                os.environ["CUDA_HOME"] = cand
                break
    try:
        import torch  # noqa: F401
        from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CUDAExtension
    except Exception as exc:  # torch missing or broken: still installable
        _note(f"torch is not importable ({exc}); accelkern._C (the CUDA kernels) is not built. Install torch "
              "first, then `pip install --no-build-isolation -e .` to build it")
        return [], {}
    nvcc = os.path.join(CUDA_HOME, "bin", "nvcc") if CUDA_HOME else None
    if not nvcc or not os.path.isfile(nvcc):
        _note("no CUDA toolkit found (set CUDA_HOME to a CUDA install with nvcc); accelkern._C (the CUDA "
              "kernels) is not built: the torch backend and the CPU kernels work")
        return [], {}
    mismatch = _cuda_version_mismatch(nvcc, torch.version.cuda)
    if mismatch:
        _note(f"{mismatch}; accelkern._C (the CUDA kernels) is not built: the torch backend and the CPU kernels "
              "work (point CUDA_HOME at a toolkit of torch's CUDA major version to build it)")
        return [], {}
    cublas = _find_cublas(CUDA_HOME)
    if cublas is None:
        _note("cuBLASLt headers/libraries not found in CUDA_HOME nor in the nvidia-cublas wheel; "
              "accelkern._C (the CUDA kernels) is not built")
        return [], {}
    cublas_inc, cublas_lib, cublas_link = cublas

    archs = _archs()
    sm90a = "90a" in archs
    all_cu = sorted(glob.glob(os.path.join(CSRC, "**", "*.cu"), recursive=True))
    sm90a_cu = [f for f in all_cu if f.endswith("_sm90a.cu")]
    common_cu = [f for f in all_cu if f not in sm90a_cu]
    sources = [os.path.relpath(f, ROOT) for f in [os.path.join(CSRC, "bindings.cpp")] + common_cu]

    # the toolkit's own headers first: the wheel's include dir also carries a partial CUDA runtime
    includes = [CSRC, os.path.join(CUDA_HOME, "include")] + \
        ([cublas_inc] if cublas_inc != os.path.join(CUDA_HOME, "include") else [])
    defines = [f"-DACCELKERN_HAS_SM90A={1 if sm90a else 0}"]
    nvcc_flags = ["-O3", "-std=c++17", "-lineinfo", "--expt-relaxed-constexpr",
                  "-Xcompiler", "-fPIC"] + defines
    if os.environ.get("ACCELKERN_PTXAS_VERBOSE") == "1":
        nvcc_flags += ["-Xptxas", "-v"]

    class BuildWithSm90a(BuildExtension):
        """torch's build, plus sm_90a-only sources compiled for 90a alone and linked in."""

        def build_extensions(self):
            if sm90a and sm90a_cu:
                objs = self._compile_sm90a()
                for ext in self.extensions:
                    if ext.name == "accelkern._C":   # not the CPU extension
                        ext.extra_objects = list(ext.extra_objects or []) + objs
            super().build_extensions()

        def _compile_sm90a(self):
            out_dir = os.path.join(self.build_temp, "sm90a")
            os.makedirs(out_dir, exist_ok=True)
            headers = glob.glob(os.path.join(CSRC, "**", "*.h"), recursive=True) + \
                glob.glob(os.path.join(CSRC, "**", "*.cuh"), recursive=True)
            newest_header = max((os.path.getmtime(h) for h in headers), default=0)

            def compile_one(src):
                obj = os.path.join(out_dir, os.path.relpath(src, CSRC).replace(os.sep, "_") + ".o")
                if os.path.exists(obj) and os.path.getmtime(obj) >= max(os.path.getmtime(src), newest_header):
                    return obj
                cmd = [nvcc, "-c", src, "-o", obj] + [f"-I{i}" for i in includes] + nvcc_flags + \
                    ["-gencode", "arch=compute_90a,code=sm_90a"]
                print(" ".join(cmd), flush=True)
                subprocess.run(cmd, check=True)
                return obj

            jobs = int(os.environ.get("MAX_JOBS", os.cpu_count() or 1))
            with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
                return list(pool.map(compile_one, sm90a_cu))

    ext = CUDAExtension(
        name="accelkern._C",
        sources=sources,
        include_dirs=includes,
        library_dirs=[cublas_lib],
        extra_compile_args={"cxx": ["-O2"] + defines,  # torch picks the C++ standard it needs
                            "nvcc": nvcc_flags + _gencode(archs)},
        extra_link_args=cublas_link + [f"-Wl,-rpath,{cublas_lib}"],
    )
    _note(f"building accelkern._C for sm_{', sm_'.join(archs)} "
          f"({len(common_cu)} CUDA sources, {len(sm90a_cu) if sm90a else 0} sm_90a-only); "
          f"cuBLAS from {cublas_lib}")
    return [ext], {"build_ext": BuildWithSm90a}


ext_modules, cmdclass = _extension_modules()
setup(ext_modules=ext_modules, cmdclass=cmdclass)
