"""The one compiled part: ``lightning_module.data._jpeg_dc`` (see its source for what it does and why).

It is optional: where no C compiler is found, ``pip install`` goes on without it and Pillow decodes every photo,
only slower. Everything else about the package is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "lightning_module.data._jpeg_dc",
            sources=["lightning_module/data/_jpeg_dc.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
