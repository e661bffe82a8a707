"""setuptools glue: the cffi extension ``_sampler`` comes from sampler_build.py.

Install into a virtual environment that sees Debian's cffi and setuptools::

    python3 -m venv --system-site-packages VENV
    VENV/bin/pip install --no-build-isolation --no-index .

libsampler is found with ``pkg-config --static libsampler`` (set
PKG_CONFIG_PATH if needed), or in a build tree with SAMPLER_TOP_BUILDDIR.
It is linked statically, so the installed module does not need it at run time.
"""
from setuptools import setup

setup(
    packages=["sampler"],
    package_data={"sampler": ["py.typed"]},
    cffi_modules=["sampler_build.py:ffibuilder"],
    zip_safe=False,
)
