"""Every folder of Python modules is a package, so a wheel (pbr → setuptools'
find_packages, which skips folders without ``__init__.py``) ships all of them."""

import pathlib

import setuptools

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOP_LEVEL = ('blockflow', 'flows', 'tasks')


def test_every_module_folder_is_found_as_a_package():
    found = set(setuptools.find_packages(str(ROOT), include=[f'{t}*' for t in TOP_LEVEL]))
    with_modules = {'.'.join(path.parent.relative_to(ROOT).parts)
                    for top in TOP_LEVEL for path in (ROOT / top).rglob('*.py')
                    if '__pycache__' not in path.parts}
    assert with_modules - found == set()
